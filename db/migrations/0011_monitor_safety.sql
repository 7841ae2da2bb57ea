ALTER TABLE `monitor_contacts` ADD `revision` integer DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE `monitors` ADD `previous_secret_hash` text;--> statement-breakpoint
ALTER TABLE `monitors` ADD `held_reason` text;--> statement-breakpoint
ALTER TABLE `monitors` ADD `held_at` integer;--> statement-breakpoint
ALTER TABLE `monitors` ADD `brake_from` integer;