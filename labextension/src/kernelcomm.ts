/**
 * Talking to the kernel side (civis_jupyter/jupyter/labcomm.py) over comms.
 */
import { Kernel } from '@jupyterlab/services';

export const COMPLETION_TARGET = 'civis_jupyter.completion';
export const RUNS_TARGET = 'civis_jupyter.runs';
/** A control-channel request cancelling a run (answered while cells run). */
export const CANCEL_REQUEST = 'civis_cancel_request';

/** A completion answer: names, or a hint to show instead. */
export interface INames {
  items: string[];
  hint?: string;
}

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

  /** Names for a request (cached for a few minutes); none if the kernel has none. */
  async names(request: INamesRequest): Promise<INames> {
    const key = JSON.stringify(request);
    const hit = this._cache.get(key);
    if (hit && Date.now() - hit.at < this._ttl) {
      return hit.names;
    }
    const names = await this._ask(request);
    if (!names.hint) {
      this._cache.set(key, { at: Date.now(), names }); // a hint may change: not cached
    }
    return names;
  }

  private _ask(request: INamesRequest): Promise<INames> {
    const comm = this._comm();
    const id = ++this._nextId;
    return new Promise<INames>(resolve => {
      const timer = setTimeout(() => {
        this._pending.delete(id);
        resolve({ items: [] });
      }, 15_000);
      this._pending.set(id, (names: INames) => {
        clearTimeout(timer);
        resolve(names);
      });
      comm.send({ id, ...request });
    });
  }

  private _comm(): Kernel.IComm {
    if (!this._open || this._open.isDisposed) {
      const comm = this._kernel.createComm(COMPLETION_TARGET);
      comm.onMsg = msg => {
        const data = msg.content.data as { id?: number; items?: string[]; hint?: string };
        const done = data.id !== undefined ? this._pending.get(data.id) : undefined;
        if (done) {
          this._pending.delete(data.id!);
          done({ items: data.items ?? [], hint: data.hint });
        }
      };
      comm.onClose = () => {
        this._open = null; // e.g. the extension is not loaded in this kernel yet
        this._pending.forEach(done => done({ items: [] }));
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
  private _pending = new Map<number, (names: INames) => void>();
  private _cache = new Map<string, { at: number; names: INames }>();
}
