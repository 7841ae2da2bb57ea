CREATE TABLE `run_undos` (
	`id` text PRIMARY KEY NOT NULL,
	`run_id` text NOT NULL,
	`contact_id` integer NOT NULL,
	`list_id` integer NOT NULL,
	`ac_updated` text,
	`state` text DEFAULT 'pending' NOT NULL,
	`reason` text,
	`error` text,
	`attempts` integer DEFAULT 0 NOT NULL,
	`next_attempt_at` integer,
	`updated_at` integer,
	FOREIGN KEY (`run_id`) REFERENCES `runs`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE UNIQUE INDEX `run_undos_unique` ON `run_undos` (`run_id`,`contact_id`,`list_id`);--> statement-breakpoint
CREATE INDEX `run_undos_state_idx` ON `run_undos` (`run_id`,`state`);--> statement-breakpoint
CREATE TABLE `run_backups` (
	`id` text PRIMARY KEY NOT NULL,
	`run_id` text NOT NULL,
	`workspace_id` text NOT NULL,
	`contact_id` integer NOT NULL,
	`sealed` text NOT NULL,
	`taken_at` integer NOT NULL,
	`expires_at` integer NOT NULL,
	FOREIGN KEY (`run_id`) REFERENCES `runs`(`id`) ON UPDATE no action ON DELETE cascade,
	FOREIGN KEY (`workspace_id`) REFERENCES `workspaces`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE UNIQUE INDEX `run_backups_contact` ON `run_backups` (`run_id`,`contact_id`);--> statement-breakpoint
CREATE INDEX `run_backups_expiry_idx` ON `run_backups` (`expires_at`);--> statement-breakpoint
ALTER TABLE `runs` ADD `undo_requested_at` integer;--> statement-breakpoint
ALTER TABLE `runs` ADD `undo_finished_at` integer;--> statement-breakpoint
ALTER TABLE `run_actions` ADD `ac_updated` text;