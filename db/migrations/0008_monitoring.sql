CREATE TABLE `monitor_actions` (
	`id` text PRIMARY KEY NOT NULL,
	`monitor_contact_id` text NOT NULL,
	`check_no` integer NOT NULL,
	`kind` text NOT NULL,
	`list_id` integer DEFAULT 0 NOT NULL,
	`state` text DEFAULT 'pending' NOT NULL,
	`attempts` integer DEFAULT 0 NOT NULL,
	`next_attempt_at` integer,
	`result_code` text,
	`error` text,
	`updated_at` integer NOT NULL,
	FOREIGN KEY (`monitor_contact_id`) REFERENCES `monitor_contacts`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE UNIQUE INDEX `monitor_actions_unique` ON `monitor_actions` (`monitor_contact_id`,`check_no`,`kind`,`list_id`);--> statement-breakpoint
CREATE TABLE `monitor_contacts` (
	`id` text PRIMARY KEY NOT NULL,
	`monitor_id` text NOT NULL,
	`workspace_id` text NOT NULL,
	`contact_id` text NOT NULL,
	`email` text NOT NULL,
	`state` text DEFAULT 'pending' NOT NULL,
	`lists` text DEFAULT '[]' NOT NULL,
	`source` text NOT NULL,
	`due_at` integer NOT NULL,
	`lease_owner` text,
	`lease_token` text,
	`lease_expires_at` integer,
	`verify_attempts` integer DEFAULT 0 NOT NULL,
	`charged_email` text,
	`checked_email` text,
	`checks` integer DEFAULT 0 NOT NULL,
	`status` text,
	`reason` text,
	`result` text,
	`checked_at` integer,
	`outcome` text,
	`outcome_code` text,
	`error` text,
	`created_at` integer NOT NULL,
	`updated_at` integer NOT NULL,
	FOREIGN KEY (`monitor_id`) REFERENCES `monitors`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE UNIQUE INDEX `monitor_contacts_unique` ON `monitor_contacts` (`monitor_id`,`contact_id`);--> statement-breakpoint
CREATE INDEX `monitor_contacts_due_idx` ON `monitor_contacts` (`state`,`due_at`);--> statement-breakpoint
CREATE INDEX `monitor_contacts_recent_idx` ON `monitor_contacts` (`monitor_id`,`updated_at`);--> statement-breakpoint
CREATE INDEX `monitor_contacts_checked_idx` ON `monitor_contacts` (`monitor_id`,`checked_at`);--> statement-breakpoint
CREATE TABLE `monitor_events` (
	`id` text PRIMARY KEY NOT NULL,
	`monitor_id` text NOT NULL,
	`key` text NOT NULL,
	`type` text NOT NULL,
	`contact_id` text,
	`list_id` text,
	`outcome` text NOT NULL,
	`received_at` integer NOT NULL,
	FOREIGN KEY (`monitor_id`) REFERENCES `monitors`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE UNIQUE INDEX `monitor_events_key_unique` ON `monitor_events` (`monitor_id`,`key`);--> statement-breakpoint
CREATE INDEX `monitor_events_received_idx` ON `monitor_events` (`received_at`);--> statement-breakpoint
CREATE TABLE `monitors` (
	`id` text PRIMARY KEY NOT NULL,
	`workspace_id` text NOT NULL,
	`connection_id` text NOT NULL,
	`enabled` integer DEFAULT false NOT NULL,
	`scope` text NOT NULL,
	`actions` text NOT NULL,
	`smtp_probe` integer DEFAULT false NOT NULL,
	`delete_confirmed` integer DEFAULT false NOT NULL,
	`digest` integer DEFAULT false NOT NULL,
	`secret_hash` text,
	`ac_webhook_id` text,
	`webhook_state` text DEFAULT 'none' NOT NULL,
	`webhook_error` text,
	`webhook_checked_at` integer,
	`active_from` integer,
	`last_event_at` integer,
	`swept_from` integer,
	`last_sweep_at` integer,
	`last_sweep_error` text,
	`sweep_found` integer DEFAULT 0 NOT NULL,
	`label_setup` text,
	`charged` integer DEFAULT 0 NOT NULL,
	`last_digest_day` text,
	`created_at` integer NOT NULL,
	`updated_at` integer NOT NULL,
	FOREIGN KEY (`workspace_id`) REFERENCES `workspaces`(`id`) ON UPDATE no action ON DELETE cascade,
	FOREIGN KEY (`connection_id`) REFERENCES `connections`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE UNIQUE INDEX `monitors_connection_unique` ON `monitors` (`connection_id`);--> statement-breakpoint
CREATE INDEX `monitors_workspace_idx` ON `monitors` (`workspace_id`);--> statement-breakpoint
ALTER TABLE `credit_ledger` ADD `group_key` text;