/**
 * Talking to the kernel side (civis_jupyter/jupyter/labcomm.py) over comms.
 */
import { Kernel } from '@jupyterlab/services';

export const COMPLETION_TARGET = 'civis_jupyter.completion';
export const RUNS_TARGET = 'civis_jupyter.runs';

/** A completion request sent to the kernel (without its id). */
export interface INamesRequest {
  request: 'databases' | 'schemas' | 'tables' | 'columns';
  database?: string | null;
  schema?: string;
  table?: string;
}

/** Asks one kernel for names, one comm per kernel, answers cached. */
export class NamesClient {
  constructor(kernel: Kernel.IKernelConnection, ttlMs = 300_000) {
    this._kernel = kernel;
    this._ttl = ttlMs;
  }

  /** Names for a request (cached for a few minutes); [] if the kernel has none. */
  async names(request: INamesRequest): Promise<string[]> {
    const key = JSON.stringify(request);
    const hit = this._cache.get(key);
    if (hit && Date.now() - hit.at < this._ttl) {
      return hit.items;
    }
    const items = await this._ask(request);
    this._cache.set(key, { at: Date.now(), items });
    return items;
  }

  private _ask(request: INamesRequest): Promise<string[]> {
    const comm = this._comm();
    const id = ++this._nextId;
    return new Promise<string[]>(resolve => {
      const timer = setTimeout(() => {
        this._pending.delete(id);
        resolve([]);
      }, 15_000);
      this._pending.set(id, (items: string[]) => {
        clearTimeout(timer);
        resolve(items);
      });
      comm.send({ id, ...request });
    });
  }

  private _comm(): Kernel.IComm {
    if (!this._open || this._open.isDisposed) {
      const comm = this._kernel.createComm(COMPLETION_TARGET);
      comm.onMsg = msg => {
        const data = msg.content.data as { id?: number; items?: string[] };
        const done = data.id !== undefined ? this._pending.get(data.id) : undefined;
        if (done) {
          this._pending.delete(data.id!);
          done(data.items ?? []);
        }
      };
      comm.onClose = () => {
        this._open = null; // e.g. the extension is not loaded in this kernel yet
        this._pending.forEach(done => done([]));
        this._pending.clear();
      };
      comm.open();
      this._open = comm;
    }
    return this._open;
  }

  private _kernel: Kernel.IKernelConnection;
  private _ttl: number;
  private _open: Kernel.IComm | null = null;
  private _nextId = 0;
  private _pending = new Map<number, (items: string[]) => void>();
  private _cache = new Map<string, { at: number; items: string[] }>();
}
