ALTER TABLE `connections` ADD `last_error_code` text;--> statement-breakpoint
ALTER TABLE `runs` ADD `status_code` text;--> statement-breakpoint
ALTER TABLE `schedules` ADD `last_error_code` text;