// Pod addresses: each Pod gets its own address from the agent's range, so every Pod can listen on
// the ports its spec names (8080, 9091) without colliding with another Pod's. Every address in
// 127.0.0.0/8 is local on Linux with no set-up, but the API server refuses loopback addresses in
// EndpointSlices; a range made local with `ip route add local <cidr> dev lo` has neither problem.
import { createServer } from 'node:net';

export class AddressPool {
  /** Address → the UID of the Pod holding it. */
  private readonly used = new Map<string, string>();
  private readonly first: number;
  private readonly last: number;

  /** An IPv4 CIDR, e.g. 127.0.0.0/24: its network and broadcast addresses and 127.0.0.1 (the node's) are never given out. */
  constructor(readonly cidr: string) {
    const match = /^(\d+)\.(\d+)\.(\d+)\.(\d+)\/(\d+)$/.exec(cidr);
    const bits = Number(match?.[5]);
    if (!match || match.slice(1, 5).some((o) => Number(o) > 255) || bits < 8 || bits > 30) throw new Error(`pod address range ${cidr}: want an IPv4 CIDR with 4 or more addresses, e.g. 127.0.0.0/24`);
    const base = match.slice(1, 5).reduce((n, octet) => n * 256 + Number(octet), 0);
    const size = 2 ** (32 - bits);
    this.first = base - (base % size) + 1;
    this.last = base - (base % size) + size - 2;
  }

  /**
   * An address for the Pod `owner`: `preferred` when it is in range and free or already its own
   * (a Pod keeps its address across agent restarts), else the first free one.
   */
  allocate(owner: string, preferred?: string): string {
    if (preferred && this.contains(preferred) && preferred !== '127.0.0.1' && (this.used.get(preferred) ?? owner) === owner) {
      this.used.set(preferred, owner);
      return preferred;
    }
    for (let n = this.first; n <= this.last; n++) {
      const ip = toIp(n);
      if (ip !== '127.0.0.1' && !this.used.has(ip)) {
        this.used.set(ip, owner);
        return ip;
      }
    }
    throw new Error(`no free Pod address left in ${this.cidr}`);
  }

  /** Keeps a Pod's earlier address for it until it starts, so no Pod started before it takes it. */
  reserve(owner: string, ip: string | undefined): void {
    if (ip && this.contains(ip) && !this.used.has(ip)) this.used.set(ip, owner);
  }

  release(owner: string, ip: string | undefined): void {
    if (ip && this.used.get(ip) === owner) this.used.delete(ip);
  }

  contains(ip: string): boolean {
    const parts = ip.split('.').map(Number);
    if (parts.length !== 4 || parts.some((p) => !Number.isInteger(p) || p < 0 || p > 255)) return false;
    const n = parts.reduce((acc, p) => acc * 256 + p, 0);
    return n >= this.first && n <= this.last;
  }
}

function toIp(n: number): string {
  return [24, 16, 8, 0].map((shift) => Math.floor(n / 2 ** shift) % 256).join('.');
}

export function isLoopback(ip: string): boolean {
  return ip.startsWith('127.');
}

/** Fails unless processes can listen on the range's first address, i.e. the range is local on this machine. */
export async function checkLocal(pool: AddressPool): Promise<void> {
  const probe = pool.allocate('check');
  pool.release('check', probe);
  await new Promise<void>((resolve, reject) => {
    const server = createServer();
    server.once('error', (err: NodeJS.ErrnoException) =>
      reject(
        new Error(
          `Pod addresses ${pool.cidr} are not local on this machine (listening on ${probe}: ${err.code ?? err.message}): ` +
            `make them local with \`sudo ip route add local ${pool.cidr} dev lo\`, or use a range inside 127.0.0.0/8`,
        ),
      ),
    );
    server.listen(0, probe, () => server.close(() => resolve()));
  });
}
