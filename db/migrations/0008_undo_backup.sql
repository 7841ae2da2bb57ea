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
CREATE INDEX `run_backups_expiry_idx` ON `run_backups` (`expires_at`);