/**
 * @jest-environment jsdom
 */
import { IRun, renderRuns, runTime } from '../src/runsview';

const run = (over: Partial<IRun>): IRun => ({
  job_id: 1,
  run_id: 2,
  name: 'SELECT 1',
  state: 'running',
  live: true,
  created_at: null,
  started_at: '2024-01-01T00:00:00Z',
  finished_at: null,
  duration: null,
  elapsed: 3,
  ...over
});

describe('renderRuns', () => {
  it('lists runs under a header with name, state, time; cancel on live runs only', () => {
    const host = document.createElement('div');
    const cancelled: IRun[] = [];
    const finished = run({
      job_id: 5,
      name: 'nightly import',
      state: 'succeeded',
      live: false,
      elapsed: null,
      duration: 0.42,
      finished_at: '2024-01-01T00:00:00.42Z'
    });
    renderRuns(host, [run({}), finished], Date.now(), r => cancelled.push(r));
    const header = [...host.querySelectorAll('th')].map(th => th.textContent);
    expect(header).toEqual(['Run', 'State', 'Time']);
    const rows = host.querySelectorAll('tbody tr');
    expect(rows.length).toBe(2);
    expect(rows[0].querySelector('.civis-run-name')!.textContent).toBe('SELECT 1');
    expect(rows[0].querySelector('.civis-run-state')!.textContent).toBe('running');
    expect(rows[1].querySelector('.civis-run-name')!.textContent).toBe('nightly import');
    expect(rows[1].querySelector('.civis-run-elapsed')!.textContent).toBe('0.4s');
    expect(rows[1].querySelector('button')).toBeNull();
    (rows[0].querySelector('button') as HTMLButtonElement).click();
    expect(cancelled.map(r => r.job_id)).toEqual([1]);
    expect((rows[0].querySelector('button') as HTMLButtonElement).disabled).toBe(true);
  });

  it('says so when there are no runs', () => {
    const host = document.createElement('div');
    renderRuns(host, [], Date.now(), () => undefined);
    expect(host.textContent).toContain('No Civis runs');
  });
});

describe('runTime', () => {
  it('shows the duration of an ended run, however long ago it ended', () => {
    const ended = run({ live: false, duration: 65, elapsed: null });
    expect(runTime(ended, 0, 10 * 60 * 1000)).toBe('1m 05s');
  });

  it('ticks the elapsed time of a live run from when it was received', () => {
    expect(runTime(run({ elapsed: 3 }), 1000, 1000)).toBe('3s');
    expect(runTime(run({ elapsed: 3 }), 1000, 63_000)).toBe('1m 05s');
    expect(runTime(run({ elapsed: null }), 0, 0)).toBe('-');
  });
});
