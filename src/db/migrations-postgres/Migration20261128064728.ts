import { Migration } from '@mikro-orm/migrations';

export class Migration20261128064728 extends Migration {

  override async up(): Promise<void> {
    this.addSql(`create table "deploy_lock" ("id" serial primary key, "app" varchar(255) not null, "host" varchar(255) null, "reason" text not null, "locked_by" varchar(255) not null, "locked_at" timestamptz not null, "expires_at" timestamptz null);`);
    this.addSql(`create index "deploy_lock_app_index" on "deploy_lock" ("app");`);

    this.addSql(`create table "deploy_run" ("id" serial primary key, "app" varchar(255) not null, "host" varchar(255) not null, "strategy" varchar(255) not null, "trigger" varchar(255) not null, "status" varchar(255) not null, "ref" varchar(255) null, "commit" varchar(255) null, "error" text null, "failed_step" varchar(255) null, "duration_ms" int null, "queued_at" timestamptz not null, "started_at" timestamptz null, "finished_at" timestamptz null, "trace_id" varchar(255) null, "commit_before" varchar(255) null, "commit_after" varchar(255) null, "release" int null, "rollback_to" int null, "rolled_back" boolean not null default false, "owner_pid" int null, "lease_until" timestamptz null, "forced" boolean not null default false, "repository" varchar(255) null, "owner" varchar(255) null, "cancel_requested" boolean not null default false);`);
    this.addSql(`create index "deploy_run_app_index" on "deploy_run" ("app");`);
    this.addSql(`create index "deploy_run_status_index" on "deploy_run" ("status");`);

    this.addSql(`create table "deploy_server" ("id" varchar(255) not null, "started_at" timestamptz not null, "heartbeat_at" timestamptz not null, constraint "deploy_server_pkey" primary key ("id"));`);

    this.addSql(`create table "deploy_target" ("app" varchar(255) not null, "host" varchar(255) not null, "remote_dir" varchar(255) not null, "binary" varchar(255) not null, "build_cmd" text not null, "user" varchar(255) not null, "port" int not null, "health" varchar(255) not null, "env" jsonb not null, "strategy" varchar(255) not null, "source_dir" varchar(255) not null, "branch" varchar(255) not null, "compose_files" jsonb not null, "repo" varchar(255) not null, "repo_name" varchar(255) not null default '', "auto_rollback" boolean not null default true, "keep_releases" int not null default 0, "skip_ci_marker" boolean not null default false, "created_at" timestamptz not null, "updated_at" timestamptz not null, constraint "deploy_target_pkey" primary key ("app", "host"));`);

    this.addSql(`create table "notification_attempt" ("id" serial primary key, "run_id" int not null, "sink" varchar(255) not null, "event" varchar(255) not null, "attempt" int not null, "status" varchar(255) not null, "http_status" int null, "error" text null, "sent_at" timestamptz not null, "duration_ms" int not null);`);

    this.addSql(`create table "step_run" ("id" serial primary key, "run_id" int not null, "step" varchar(255) not null, "status" varchar(255) not null, "started_at" timestamptz null, "duration_ms" int null, "exit_code" int null, "output" text not null default '', "error" text null);`);
    this.addSql(`create index "step_run_run_id_index" on "step_run" ("run_id");`);

    this.addSql(`create table "webhook_delivery" ("id" serial primary key, "delivery_id" varchar(255) null, "repository" varchar(255) not null, "ref" varchar(255) not null, "after" varchar(255) not null, "status" varchar(255) not null, "payload" jsonb null, "run_ids" jsonb null, "reason" text null, "received_at" timestamptz not null);`);
    this.addSql(`create index "webhook_delivery_delivery_id_index" on "webhook_delivery" ("delivery_id");`);
    this.addSql(`create index "webhook_delivery_repository_ref_after_index" on "webhook_delivery" ("repository", "ref", "after");`);

    this.addSql(`alter table "notification_attempt" add constraint "notification_attempt_run_id_foreign" foreign key ("run_id") references "deploy_run" ("id") on update cascade on delete cascade;`);

    this.addSql(`alter table "step_run" add constraint "step_run_run_id_foreign" foreign key ("run_id") references "deploy_run" ("id") on update cascade on delete cascade;`);
  }


}
