ALTER TABLE `runs` ADD `mailbox_checked` integer;--> statement-breakpoint
ALTER TABLE `runs` ADD `names` text;--> statement-breakpoint
ALTER TABLE `runs` ADD `anomaly_confirmed` integer DEFAULT false NOT NULL;--> statement-breakpoint
ALTER TABLE `run_contacts` ADD `excluded` integer DEFAULT false NOT NULL;