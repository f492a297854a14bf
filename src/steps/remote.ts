import type { ShellCommand } from '../transport/remote/shell-command.ts';
import { failIfNonZero } from '../transport/command-result.ts';
import { runLocal } from '../transport/local-process.ts';
import { ATTR, withSpan } from '../support/telemetry.ts';
import type { StepContext } from '../engine/pipeline.ts';
import type { ExecResult } from '../transport/remote-host.ts';
import { usesSudo } from '../support/config.ts';

/**
 * Runs a command on the run's host: echoed, output streamed into the step, non-zero exit fails the
 * step; a child span of the step carries its name (never its arguments), host and exit code.
 */
export async function runRemote(context: StepContext<any>, command: ShellCommand): Promise<ExecResult> {
  const host = await context.deploy.remote();
  const shown = command.display ?? command.command;
  context.output(`$ ${shown}\n`);
  const attributes = { [ATTR.command]: command.name, [ATTR.host]: context.deploy.target.host };
  return withSpan(context.deploy.tracer, `ssh ${command.name}`, context.telemetry, attributes, async (span) => {
    const result = await host.exec(command, { signal: context.signal, onOutput: context.output });
    span.setAttribute(ATTR.exitCode, result.code);
    return failIfNonZero(command.name, result);
  }, context.deploy.redact);
}

/** Runs a program on this machine (a local build, rsync) in a child span of the step, like runRemote. */
export async function runLocalStep(context: StepContext<any>, name: string, argv: readonly string[], cwd?: string): Promise<ExecResult> {
  const attributes = { [ATTR.command]: name, [ATTR.host]: 'localhost' };
  return withSpan(context.deploy.tracer, `local ${name}`, context.telemetry, attributes, async (span) => {
    const result = await runLocal(argv, { cwd, signal: context.signal, onOutput: context.output });
    span.setAttribute(ATTR.exitCode, result.code);
    return failIfNonZero(name, result);
  }, context.deploy.redact);
}

/** `sudo -n` for systemctl unless the SSH user is root or DEPLOY_SUDO=never. */
export async function needsSudo(context: StepContext<any>): Promise<boolean> {
  return usesSudo(context.deploy.config, (await context.deploy.remote()).user);
}
