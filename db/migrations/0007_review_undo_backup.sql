CREATE TABLE `run_backups` (
	`run_id` text NOT NULL,
	`contact_id` integer NOT NULL,
	`record` text NOT NULL,
	`created_at` integer NOT NULL,
	PRIMARY KEY(`run_id`, `contact_id`),
	FOREIGN KEY (`run_id`) REFERENCES `runs`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE TABLE `run_undos` (
	`run_id` text NOT NULL,
	`contact_id` integer NOT NULL,
	`list_id` integer NOT NULL,
	`ac_udate` text,
	`state` text DEFAULT 'pending' NOT NULL,
	`result_code` text,
	`error` text,
	`attempts` integer DEFAULT 0 NOT NULL,
	`next_attempt_at` integer,
	`updated_at` integer,
	PRIMARY KEY(`run_id`, `contact_id`, `list_id`),
	FOREIGN KEY (`run_id`) REFERENCES `runs`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE INDEX `run_undos_state_idx` ON `run_undos` (`run_id`,`state`,`contact_id`);--> statement-breakpoint
ALTER TABLE `runs` ADD `mailbox_checked` integer;--> statement-breakpoint
ALTER TABLE `runs` ADD `names` text;--> statement-breakpoint
ALTER TABLE `runs` ADD `anomaly_confirmed` integer DEFAULT false NOT NULL;--> statement-breakpoint
ALTER TABLE `runs` ADD `undo_planned` integer DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE `runs` ADD `undo_done` integer DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE `runs` ADD `undo_refused` integer DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE `runs` ADD `undo_failed` integer DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE `runs` ADD `undo_requested_at` integer;--> statement-breakpoint
ALTER TABLE `run_contacts` ADD `excluded` integer DEFAULT false NOT NULL;--> statement-breakpoint
ALTER TABLE `run_actions` ADD `ac_udate` text;