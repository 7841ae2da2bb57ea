CREATE TABLE `run_counts` (
	`run_id` text NOT NULL,
	`kind` text NOT NULL,
	`key` text NOT NULL,
	`n` integer DEFAULT 0 NOT NULL,
	PRIMARY KEY(`run_id`, `kind`, `key`),
	FOREIGN KEY (`run_id`) REFERENCES `runs`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE TABLE `run_memberships` (
	`run_id` text NOT NULL,
	`contact_id` integer NOT NULL,
	`list_id` integer NOT NULL,
	`status` integer NOT NULL,
	PRIMARY KEY(`run_id`, `contact_id`, `list_id`),
	FOREIGN KEY (`run_id`) REFERENCES `runs`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
DROP INDEX `run_contacts_unverified_idx`;--> statement-breakpoint
CREATE INDEX `run_contacts_action_idx` ON `run_contacts` (`run_id`,`action`,`contact_id`);--> statement-breakpoint
CREATE INDEX `run_contacts_unverified_idx` ON `run_contacts` (`run_id`,`verified_at`,`contact_id`);--> statement-breakpoint
-- Data written before this migration: memberships out of the JSON column, flags as words.
INSERT INTO `run_memberships` (`run_id`, `contact_id`, `list_id`, `status`)
  SELECT c.`run_id`, c.`contact_id`, json_extract(j.value, '$.listId'), json_extract(j.value, '$.status')
  FROM `run_contacts` c, json_each(c.`lists`) j WHERE json_valid(c.`lists`) AND true
  ON CONFLICT DO NOTHING;--> statement-breakpoint
UPDATE `run_contacts` SET `flags` = (SELECT coalesce(group_concat(j.value, ' '), '') FROM json_each(`run_contacts`.`flags`) j) WHERE json_valid(`flags`);--> statement-breakpoint
ALTER TABLE `run_contacts` DROP COLUMN `lists`;--> statement-breakpoint
ALTER TABLE `workspaces` ADD `balance` integer DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE `runs` ADD `contacts_fetched` integer DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE `runs` ADD `contacts_verified` integer DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE `runs` ADD `credits_charged` integer DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE `runs` ADD `credits_refunded` integer DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE `runs` ADD `actions_planned` integer DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE `runs` ADD `actions_done` integer DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE `runs` ADD `actions_failed` integer DEFAULT 0 NOT NULL;--> statement-breakpoint
UPDATE `workspaces` SET `balance` = (SELECT coalesce(sum(`amount`), 0) FROM `credit_ledger` WHERE `workspace_id` = `workspaces`.`id`);--> statement-breakpoint
UPDATE `runs` SET
  `contacts_fetched` = (SELECT count(*) FROM `run_contacts` WHERE `run_id` = `runs`.`id`),
  `contacts_verified` = (SELECT count(`verified_at`) FROM `run_contacts` WHERE `run_id` = `runs`.`id`),
  `credits_charged` = (SELECT coalesce(-sum(`amount`), 0) FROM `credit_ledger` WHERE `run_id` = `runs`.`id` AND `kind` = 'charge'),
  `credits_refunded` = (SELECT coalesce(sum(`amount`), 0) FROM `credit_ledger` WHERE `run_id` = `runs`.`id` AND `kind` = 'refund'),
  `actions_planned` = (SELECT count(*) FROM `run_actions` WHERE `run_id` = `runs`.`id`),
  `actions_done` = (SELECT count(*) FROM `run_actions` WHERE `run_id` = `runs`.`id` AND `state` = 'done'),
  `actions_failed` = (SELECT count(*) FROM `run_actions` WHERE `run_id` = `runs`.`id` AND `state` = 'failed');--> statement-breakpoint
INSERT INTO `run_counts` (`run_id`, `kind`, `key`, `n`) SELECT `run_id`, 'status', `status`, count(*) FROM `run_contacts` WHERE `status` IS NOT NULL GROUP BY `run_id`, `status`;--> statement-breakpoint
INSERT INTO `run_counts` (`run_id`, `kind`, `key`, `n`) SELECT `run_id`, 'reason', `reason`, count(*) FROM `run_contacts` WHERE `reason` IS NOT NULL GROUP BY `run_id`, `reason`;--> statement-breakpoint
INSERT INTO `run_counts` (`run_id`, `kind`, `key`, `n`) SELECT `run_id`, 'action', `action`, count(*) FROM `run_contacts` WHERE `action` IS NOT NULL GROUP BY `run_id`, `action`;
--> statement-breakpoint
INSERT INTO `run_counts` (`run_id`, `kind`, `key`, `n`) SELECT `run_id`, 'plan', 'unsubscribe_requests', count(*) FROM `run_actions` WHERE `kind` = 'unsubscribe' GROUP BY `run_id`;--> statement-breakpoint
INSERT INTO `run_counts` (`run_id`, `kind`, `key`, `n`) SELECT `run_id`, 'plan', 'unsubscribe_contacts', count(DISTINCT `contact_id`) FROM `run_actions` WHERE `kind` = 'unsubscribe' GROUP BY `run_id`;--> statement-breakpoint
INSERT INTO `run_counts` (`run_id`, `kind`, `key`, `n`) SELECT `run_id`, 'plan', 'delete_contacts', count(DISTINCT `contact_id`) FROM `run_actions` WHERE `kind` = 'delete' GROUP BY `run_id`;
