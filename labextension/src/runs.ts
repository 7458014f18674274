/**
 * The "Civis runs" side panel: the runs of the current notebook's kernel,
 * with their names, states, durations (ticking while live) and a cancel
 * button for live runs.
 */
import { INotebookTracker, NotebookPanel } from '@jupyterlab/notebook';
import { Kernel, KernelMessage } from '@jupyterlab/services';
import { Widget } from '@lumino/widgets';

import { CANCEL_REQUEST, RUNS_TARGET } from './kernelcomm';
import { IRun, renderRuns, runTime } from './runsview';

/** The side panel. */
export class RunsPanel extends Widget {
  constructor(tracker: INotebookTracker) {
    super();
    this.id = 'civis-jupyter-runs';
    this.addClass('civis-runs-panel');
    this.title.caption = 'Civis runs';
    this.title.label = 'Civis runs';
    const header = document.createElement('h3');
    header.className = 'civis-runs-title';
    header.textContent = 'Civis runs in this kernel';
    this.node.appendChild(header);
    this._message = document.createElement('div');
    this._message.className = 'civis-runs-message';
    this.node.appendChild(this._message);
    this._list = document.createElement('div');
    this.node.appendChild(this._list);
    this._tracker = tracker;
    tracker.currentChanged.connect(() => this._follow(tracker.currentWidget));
    this._follow(tracker.currentWidget);
    this._ticker = window.setInterval(() => this._tick(), 1000);
  }

  dispose(): void {
    window.clearInterval(this._ticker);
    this._comm?.dispose();
    super.dispose();
  }

  private _follow(panel: NotebookPanel | null): void {
    this._comm?.dispose();
    this._comm = null;
    this._runs = [];
    this._render();
    if (!panel) {
      return;
    }
    const connect = () => this._connect(panel.sessionContext.session?.kernel ?? null);
    panel.sessionContext.kernelChanged.connect(connect);
    panel.sessionContext.statusChanged.connect((_, status) => {
      // The kernel side exists once `%load_ext civis_jupyter` has run: retry when idle.
      if (status === 'idle' && !this._comm && this._tracker.currentWidget === panel) {
        connect();
      }
    });
    connect();
  }

  private _connect(kernel: Kernel.IKernelConnection | null): void {
    if (!kernel || (this._comm && !this._comm.isDisposed)) {
      return;
    }
    const comm = kernel.createComm(RUNS_TARGET);
    comm.onMsg = msg => {
      const data = msg.content.data as { runs?: IRun[] };
      if (data.runs) {
        this._runs = data.runs;
        this._receivedAt = Date.now();
        this._render();
      }
    };
    comm.onClose = () => {
      if (this._comm === comm) {
        this._comm = null;
      }
    };
    comm.open();
    this._comm = comm;
    this._kernel = kernel;
  }

  /**
   * Cancel a run over the control channel: it is answered even while a cell
   * runs (comm messages would wait for the cell to finish).
   */
  private async _cancel(run: IRun): Promise<void> {
    const kernel = this._kernel;
    if (!kernel) {
      return;
    }
    this._message.textContent = '';
    // A message type of our own: createMessage's typings know only Jupyter's.
    const createControlMessage = KernelMessage.createMessage as unknown as (
      options: Record<string, unknown>
    ) => KernelMessage.IControlMessage;
    const msg = createControlMessage({
      msgType: CANCEL_REQUEST,
      channel: 'control',
      session: kernel.clientId,
      username: kernel.username,
      content: { job_id: run.job_id, run_id: run.run_id }
    });
    try {
      const reply = await kernel.sendControlMessage(msg, true, true).done;
      const content = (reply?.content ?? {}) as { ok?: boolean; error?: string };
      if (!content.ok) {
        this._message.textContent = content.error
          ? `Could not cancel: ${content.error}`
          : 'The run had already ended.';
        this._render();
      }
    } catch (error) {
      this._message.textContent = `Could not cancel: ${error}`;
      this._render();
    }
  }

  private _render(): void {
    renderRuns(this._list, this._runs, this._receivedAt, run => void this._cancel(run));
  }

  private _tick(): void {
    const rows = this._list.querySelectorAll<HTMLElement>('.civis-run-row');
    rows.forEach((row, index) => {
      const run = this._runs[index];
      const cell = row.querySelector<HTMLElement>('.civis-run-elapsed');
      if (run && run.live && cell) {
        cell.textContent = runTime(run, this._receivedAt);
      }
    });
  }

  private _tracker: INotebookTracker;
  private _list: HTMLElement;
  private _message: HTMLElement;
  private _comm: Kernel.IComm | null = null;
  private _kernel: Kernel.IKernelConnection | null = null;
  private _runs: IRun[] = [];
  private _receivedAt = Date.now();
  private _ticker: number;
}
