ALTER TABLE `runs` ADD `lease_token` text;--> statement-breakpoint
ALTER TABLE `run_contacts` ADD `retry_at` integer;--> statement-breakpoint
ALTER TABLE `run_contacts` ADD `verify_attempts` integer DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE `run_actions` ADD `result_code` text;--> statement-breakpoint
ALTER TABLE `run_actions` ADD `next_attempt_at` integer;