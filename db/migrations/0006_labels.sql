CREATE TABLE `run_label_batches` (
	`id` text PRIMARY KEY NOT NULL,
	`run_id` text NOT NULL,
	`seq` integer NOT NULL,
	`parent_id` text,
	`mode` text DEFAULT 'import' NOT NULL,
	`state` text DEFAULT 'pending' NOT NULL,
	`contacts` integer DEFAULT 0 NOT NULL,
	`ac_batch_id` text,
	`sends` integer DEFAULT 0 NOT NULL,
	`failures` integer DEFAULT 0 NOT NULL,
	`polls` integer DEFAULT 0 NOT NULL,
	`next_at` integer,
	`sent_at` integer,
	`error` text,
	`created_at` integer NOT NULL,
	`updated_at` integer,
	FOREIGN KEY (`run_id`) REFERENCES `runs`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE UNIQUE INDEX `run_label_batches_seq` ON `run_label_batches` (`run_id`,`seq`);--> statement-breakpoint
CREATE INDEX `run_label_batches_state_idx` ON `run_label_batches` (`run_id`,`state`);--> statement-breakpoint
CREATE TABLE `run_labels` (
	`run_id` text NOT NULL,
	`contact_id` integer NOT NULL,
	`value` text NOT NULL,
	`reason` text,
	`state` text DEFAULT 'pending' NOT NULL,
	`batch_id` text,
	`result_code` text,
	`error` text,
	`stale_tags` text,
	`removed_tags` text,
	`updated_at` integer,
	PRIMARY KEY(`run_id`, `contact_id`),
	FOREIGN KEY (`run_id`) REFERENCES `runs`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE INDEX `run_labels_state_idx` ON `run_labels` (`run_id`,`state`,`contact_id`);--> statement-breakpoint
CREATE INDEX `run_labels_batch_idx` ON `run_labels` (`run_id`,`batch_id`);--> statement-breakpoint
ALTER TABLE `runs` ADD `labels_planned` integer DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE `runs` ADD `labels_done` integer DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE `runs` ADD `labels_skipped` integer DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE `runs` ADD `labels_failed` integer DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE `runs` ADD `label_setup` text;