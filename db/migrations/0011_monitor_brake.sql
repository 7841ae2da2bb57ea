ALTER TABLE `monitors` ADD `held_reason` text;--> statement-breakpoint
ALTER TABLE `monitors` ADD `held_at` integer;--> statement-breakpoint
ALTER TABLE `monitors` ADD `brake_from` integer;