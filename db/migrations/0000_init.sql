CREATE TABLE `workspaces` (
	`id` text PRIMARY KEY NOT NULL,
	`name` text NOT NULL,
	`created_at` integer NOT NULL
);
--> statement-breakpoint
CREATE TABLE `users` (
	`id` text PRIMARY KEY NOT NULL,
	`workspace_id` text NOT NULL,
	`email` text NOT NULL,
	`password_hash` text NOT NULL,
	`created_at` integer NOT NULL,
	FOREIGN KEY (`workspace_id`) REFERENCES `workspaces`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE UNIQUE INDEX `users_email_unique` ON `users` (`email`);--> statement-breakpoint
CREATE TABLE `sessions` (
	`token_hash` text PRIMARY KEY NOT NULL,
	`user_id` text NOT NULL,
	`expires_at` integer NOT NULL,
	`created_at` integer NOT NULL,
	FOREIGN KEY (`user_id`) REFERENCES `users`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE INDEX `sessions_user_idx` ON `sessions` (`user_id`);--> statement-breakpoint
CREATE TABLE `api_tokens` (
	`id` text PRIMARY KEY NOT NULL,
	`workspace_id` text NOT NULL,
	`user_id` text NOT NULL,
	`name` text NOT NULL,
	`token_hash` text NOT NULL,
	`hint` text NOT NULL,
	`last_used_at` integer,
	`created_at` integer NOT NULL,
	FOREIGN KEY (`workspace_id`) REFERENCES `workspaces`(`id`) ON UPDATE no action ON DELETE cascade,
	FOREIGN KEY (`user_id`) REFERENCES `users`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE UNIQUE INDEX `api_tokens_token_hash_unique` ON `api_tokens` (`token_hash`);--> statement-breakpoint
CREATE INDEX `api_tokens_workspace_idx` ON `api_tokens` (`workspace_id`);--> statement-breakpoint
CREATE TABLE `credit_ledger` (
	`id` text PRIMARY KEY NOT NULL,
	`workspace_id` text NOT NULL,
	`kind` text NOT NULL,
	`amount` integer NOT NULL,
	`reason` text NOT NULL,
	`run_id` text,
	`idempotency_key` text,
	`created_at` integer NOT NULL,
	FOREIGN KEY (`workspace_id`) REFERENCES `workspaces`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE UNIQUE INDEX `credit_ledger_idempotency_key_unique` ON `credit_ledger` (`idempotency_key`);--> statement-breakpoint
CREATE INDEX `credit_ledger_workspace_idx` ON `credit_ledger` (`workspace_id`,`created_at`);--> statement-breakpoint
CREATE TABLE `connections` (
	`id` text PRIMARY KEY NOT NULL,
	`workspace_id` text NOT NULL,
	`name` text NOT NULL,
	`api_url` text NOT NULL,
	`api_key_ciphertext` text NOT NULL,
	`key_hint` text NOT NULL,
	`ac_account_email` text,
	`last_checked_at` integer,
	`last_error` text,
	`created_at` integer NOT NULL,
	FOREIGN KEY (`workspace_id`) REFERENCES `workspaces`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE INDEX `connections_workspace_idx` ON `connections` (`workspace_id`);--> statement-breakpoint
CREATE TABLE `runs` (
	`id` text PRIMARY KEY NOT NULL,
	`workspace_id` text NOT NULL,
	`connection_id` text,
	`connection_name` text NOT NULL,
	`scope` text NOT NULL,
	`actions` text NOT NULL,
	`smtp_probe` integer DEFAULT false NOT NULL,
	`status` text NOT NULL,
	`status_reason` text,
	`fetch_cursor` text,
	`fetch_done` integer DEFAULT false NOT NULL,
	`total` integer,
	`credits_needed` integer,
	`plan_ready` integer DEFAULT false NOT NULL,
	`auto_apply` integer DEFAULT false NOT NULL,
	`hold_threshold` real,
	`delete_confirmed` integer DEFAULT false NOT NULL,
	`ac_requests` integer DEFAULT 0 NOT NULL,
	`transient_failures` integer DEFAULT 0 NOT NULL,
	`notes` text,
	`lease_owner` text,
	`lease_expires_at` integer,
	`not_before` integer,
	`schedule_id` text,
	`created_at` integer NOT NULL,
	`started_at` integer,
	`fetched_at` integer,
	`verified_at` integer,
	`review_at` integer,
	`approved_at` integer,
	`finished_at` integer,
	FOREIGN KEY (`workspace_id`) REFERENCES `workspaces`(`id`) ON UPDATE no action ON DELETE cascade,
	FOREIGN KEY (`connection_id`) REFERENCES `connections`(`id`) ON UPDATE no action ON DELETE set null
);
--> statement-breakpoint
CREATE INDEX `runs_workspace_idx` ON `runs` (`workspace_id`,`created_at`);--> statement-breakpoint
CREATE INDEX `runs_status_idx` ON `runs` (`status`);--> statement-breakpoint
CREATE TABLE `run_contacts` (
	`run_id` text NOT NULL,
	`contact_id` integer NOT NULL,
	`email` text NOT NULL,
	`first_name` text DEFAULT '' NOT NULL,
	`last_name` text DEFAULT '' NOT NULL,
	`bounced_hard` integer DEFAULT false NOT NULL,
	`lists` text NOT NULL,
	`status` text,
	`reason` text,
	`flags` text,
	`suggestion` text,
	`normalized` text,
	`verified_at` integer,
	`action` text,
	PRIMARY KEY(`run_id`, `contact_id`),
	FOREIGN KEY (`run_id`) REFERENCES `runs`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE INDEX `run_contacts_unverified_idx` ON `run_contacts` (`run_id`,`verified_at`);--> statement-breakpoint
CREATE TABLE `run_actions` (
	`id` text PRIMARY KEY NOT NULL,
	`run_id` text NOT NULL,
	`contact_id` integer NOT NULL,
	`kind` text NOT NULL,
	`list_id` integer DEFAULT 0 NOT NULL,
	`state` text DEFAULT 'pending' NOT NULL,
	`error` text,
	`attempts` integer DEFAULT 0 NOT NULL,
	`updated_at` integer,
	FOREIGN KEY (`run_id`) REFERENCES `runs`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE UNIQUE INDEX `run_actions_unique` ON `run_actions` (`run_id`,`contact_id`,`kind`,`list_id`);--> statement-breakpoint
CREATE INDEX `run_actions_state_idx` ON `run_actions` (`run_id`,`state`);--> statement-breakpoint
CREATE TABLE `schedule_occurrences` (
	`id` text PRIMARY KEY NOT NULL,
	`schedule_id` text NOT NULL,
	`workspace_id` text NOT NULL,
	`occurrence_at` integer NOT NULL,
	`period` text NOT NULL,
	`state` text NOT NULL,
	`reason` text,
	`run_id` text,
	`settled_at` integer,
	`created_at` integer NOT NULL,
	`updated_at` integer NOT NULL,
	FOREIGN KEY (`schedule_id`) REFERENCES `schedules`(`id`) ON UPDATE no action ON DELETE cascade,
	FOREIGN KEY (`workspace_id`) REFERENCES `workspaces`(`id`) ON UPDATE no action ON DELETE cascade,
	FOREIGN KEY (`run_id`) REFERENCES `runs`(`id`) ON UPDATE no action ON DELETE set null
);
--> statement-breakpoint
CREATE UNIQUE INDEX `schedule_occurrences_at_unique` ON `schedule_occurrences` (`schedule_id`,`occurrence_at`);--> statement-breakpoint
CREATE UNIQUE INDEX `schedule_occurrences_period_unique` ON `schedule_occurrences` (`schedule_id`,`period`);--> statement-breakpoint
CREATE INDEX `schedule_occurrences_state_idx` ON `schedule_occurrences` (`state`);--> statement-breakpoint
CREATE TABLE `schedules` (
	`id` text PRIMARY KEY NOT NULL,
	`workspace_id` text NOT NULL,
	`connection_id` text NOT NULL,
	`scope` text NOT NULL,
	`actions` text NOT NULL,
	`smtp_probe` integer DEFAULT false NOT NULL,
	`day_of_month` text NOT NULL,
	`hour` integer NOT NULL,
	`time_zone` text NOT NULL,
	`auto_apply` integer DEFAULT false NOT NULL,
	`hold_threshold` real DEFAULT 0.3 NOT NULL,
	`delete_confirmed` integer DEFAULT false NOT NULL,
	`paused` integer DEFAULT false NOT NULL,
	`last_error` text,
	`active_from` integer NOT NULL,
	`created_at` integer NOT NULL,
	`updated_at` integer NOT NULL,
	FOREIGN KEY (`workspace_id`) REFERENCES `workspaces`(`id`) ON UPDATE no action ON DELETE cascade,
	FOREIGN KEY (`connection_id`) REFERENCES `connections`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE INDEX `schedules_workspace_idx` ON `schedules` (`workspace_id`);--> statement-breakpoint
CREATE INDEX `schedules_connection_idx` ON `schedules` (`connection_id`);