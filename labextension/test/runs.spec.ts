/**
 * @jest-environment jsdom
 */
import { IRun, renderRuns } from '../src/runsview';

const run = (over: Partial<IRun>): IRun => ({
  job_id: 1, run_id: 2, name: 'job 1', state: 'running', started_at: null, elapsed: 3,
  url: null, ...over
});

describe('renderRuns', () => {
  it('lists runs with state, elapsed time and a cancel button for live ones', () => {
    const host = document.createElement('div');
    const cancelled: IRun[] = [];
    renderRuns(host, [run({}), run({ job_id: 5, state: 'succeeded', elapsed: 65 })], Date.now(),
      r => cancelled.push(r));
    const rows = host.querySelectorAll('tr');
    expect(rows.length).toBe(2);
    expect(rows[0].querySelector('.civis-run-state')!.textContent).toBe('running');
    expect(rows[1].querySelector('.civis-run-elapsed')!.textContent).toBe('1m 05s');
    expect(rows[1].querySelector('button')).toBeNull();
    (rows[0].querySelector('button') as HTMLButtonElement).click();
    expect(cancelled.map(r => r.job_id)).toEqual([1]);
  });

  it('says so when there are no runs', () => {
    const host = document.createElement('div');
    renderRuns(host, [], Date.now(), () => undefined);
    expect(host.textContent).toContain('No Civis runs');
  });
});
