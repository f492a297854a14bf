import { Migration } from '@mikro-orm/migrations';

export class Migration20261128155746 extends Migration {

  override async up(): Promise<void> {
    this.addSql(`create index \`deploy_run_app_host_id_index\` on \`deploy_run\` (\`app\`, \`host\`, \`id\`);`);
    this.addSql(`create index \`deploy_run_app_host_status_id_index\` on \`deploy_run\` (\`app\`, \`host\`, \`status\`, \`id\`);`);
  }

}
