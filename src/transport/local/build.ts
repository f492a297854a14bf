/** `build_cmd` on this machine: the only value that is a shell command by design. */
export function localBuildCommand(buildCmd: string): string[] {
  return ['/bin/sh', '-c', buildCmd];
}
