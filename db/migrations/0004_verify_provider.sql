ALTER TABLE `run_contacts` ADD `provider` text;--> statement-breakpoint
ALTER TABLE `run_contacts` ADD `retry_why` text;