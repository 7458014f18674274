/**
 * The "Civis runs" side panel: the runs of the current notebook's kernel,
 * with state, ticking elapsed time and a cancel button.
 */
import { INotebookTracker, NotebookPanel } from '@jupyterlab/notebook';
import { Kernel } from '@jupyterlab/services';
import { Widget } from '@lumino/widgets';

import { RUNS_TARGET } from './kernelcomm';
import { formatElapsed } from './sqlcell';
import { IRun, renderRuns } from './runsview';

/** The side panel. */
export class RunsPanel extends Widget {
  constructor(tracker: INotebookTracker) {
    super();
    this.id = 'civis-jupyter-runs';
    this.addClass('civis-runs-panel');
    this.title.caption = 'Civis runs';
    this.title.label = 'Civis runs';
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
  }

  private _render(): void {
    renderRuns(this._list, this._runs, this._receivedAt, run => {
      this._comm?.send({ action: 'cancel', job_id: run.job_id, run_id: run.run_id });
    });
  }

  private _tick(): void {
    this._list.querySelectorAll<HTMLElement>('.civis-run-elapsed').forEach(cell => {
      if (cell.dataset.live === 'true') {
        const base = Number(cell.dataset.base);
        cell.textContent = formatElapsed(base + (Date.now() - this._receivedAt) / 1000);
      }
    });
  }

  private _tracker: INotebookTracker;
  private _list: HTMLElement;
  private _comm: Kernel.IComm | null = null;
  private _runs: IRun[] = [];
  private _receivedAt = Date.now();
  private _ticker: number;
}
