CREATE TABLE `upload_addresses` (
	`upload_id` text NOT NULL,
	`address_id` integer NOT NULL,
	`key` text NOT NULL,
	PRIMARY KEY(`upload_id`, `address_id`),
	FOREIGN KEY (`upload_id`) REFERENCES `uploads`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE INDEX `upload_addresses_key_idx` ON `upload_addresses` (`upload_id`,`key`);--> statement-breakpoint
CREATE TABLE `upload_rows` (
	`upload_id` text NOT NULL,
	`row_no` integer NOT NULL,
	`email` text NOT NULL,
	`key` text,
	PRIMARY KEY(`upload_id`, `row_no`),
	FOREIGN KEY (`upload_id`) REFERENCES `uploads`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE TABLE `uploads` (
	`id` text PRIMARY KEY NOT NULL,
	`workspace_id` text NOT NULL,
	`file_name` text NOT NULL,
	`bytes` integer NOT NULL,
	`encoding` text NOT NULL,
	`delimiter` text NOT NULL,
	`has_header` integer NOT NULL,
	`columns` text NOT NULL,
	`column_scores` text NOT NULL,
	`preview` text NOT NULL,
	`email_column` integer NOT NULL,
	`column_confirmed` integer DEFAULT false NOT NULL,
	`rows` integer DEFAULT 0 NOT NULL,
	`blank_rows` integer DEFAULT 0 NOT NULL,
	`unique_addresses` integer DEFAULT 0 NOT NULL,
	`problems` text DEFAULT '[]' NOT NULL,
	`problem_count` integer DEFAULT 0 NOT NULL,
	`run_id` text,
	`created_at` integer NOT NULL,
	`expires_at` integer NOT NULL,
	`deleted_at` integer,
	FOREIGN KEY (`workspace_id`) REFERENCES `workspaces`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE INDEX `uploads_workspace_idx` ON `uploads` (`workspace_id`,`created_at`);--> statement-breakpoint
CREATE INDEX `uploads_expires_idx` ON `uploads` (`deleted_at`,`expires_at`);--> statement-breakpoint
ALTER TABLE `runs` ADD `source` text DEFAULT 'ac' NOT NULL;--> statement-breakpoint
ALTER TABLE `runs` ADD `upload_id` text;