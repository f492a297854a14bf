/** A command for a remote shell, built apart from running it: `display` is safe to log (no secrets). */
export interface RemoteCommand {
  command: string;
  display?: string;
}

export interface ExecResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface ExecOptions {
  signal?: AbortSignal;
  onOutput?: (chunk: string) => void;
}

/** One SSH session to one host, shared by all steps of a run. */
export interface RemoteHost {
  exec(command: RemoteCommand, options?: ExecOptions): Promise<ExecResult>;
  close(): Promise<void>;
}
