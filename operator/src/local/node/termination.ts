// A terminated container's message, as the kubelet takes it: the termination message file first
// (its first 4096 bytes); with FallbackToLogsOnError and a failure, the end of the container's log
// (80 lines, 2048 bytes at most).
import { closeSync, openSync, readSync, statSync } from 'node:fs';

const MESSAGE_BYTES = 4096;
const LOG_FALLBACK_BYTES = 2048;
const LOG_FALLBACK_LINES = 80;

export function terminationMessage(file: string, logFile: string, exitCode: number, policy: string | undefined): string | undefined {
  const fromFile = readHead(file, MESSAGE_BYTES);
  if (fromFile) return fromFile;
  if (policy !== 'FallbackToLogsOnError' || exitCode === 0) return undefined;
  const tail = readTail(logFile, LOG_FALLBACK_BYTES);
  const lines = tail.split('\n');
  return lines.slice(-LOG_FALLBACK_LINES - (tail.endsWith('\n') ? 1 : 0)).join('\n') || undefined;
}

function readHead(file: string, bytes: number): string {
  try {
    const fd = openSync(file, 'r');
    try {
      const buf = Buffer.alloc(bytes);
      const n = readSync(fd, buf, 0, bytes, 0);
      return buf.subarray(0, n).toString('utf8');
    } finally {
      closeSync(fd);
    }
  } catch {
    return '';
  }
}

function readTail(file: string, bytes: number): string {
  try {
    const size = statSync(file).size;
    const fd = openSync(file, 'r');
    try {
      const length = Math.min(size, bytes);
      const buf = Buffer.alloc(length);
      readSync(fd, buf, 0, length, size - length);
      return buf.toString('utf8');
    } finally {
      closeSync(fd);
    }
  } catch {
    return '';
  }
}
