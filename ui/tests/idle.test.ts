import { IdleTimer } from '../src/idle';

describe('idle timeout', () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  it('fires once after the limit without activity, and only when armed', () => {
    const fired = vi.fn();
    const idle = new IdleTimer(1000, fired);
    vi.advanceTimersByTime(5000);
    expect(fired).not.toHaveBeenCalled();
    idle.arm();
    vi.advanceTimersByTime(999);
    expect(fired).not.toHaveBeenCalled();
    vi.advanceTimersByTime(1);
    expect(fired).toHaveBeenCalledTimes(1);
    expect(idle.isArmed).toBe(false);
    vi.advanceTimersByTime(5000);
    expect(fired).toHaveBeenCalledTimes(1);
  });

  it('counts again from zero on activity and stops when disarmed', () => {
    const fired = vi.fn();
    const idle = new IdleTimer(1000, fired);
    idle.listen(document);
    idle.arm();
    vi.advanceTimersByTime(800);
    document.dispatchEvent(new KeyboardEvent('keydown', { key: '1' }));
    vi.advanceTimersByTime(800);
    expect(fired).not.toHaveBeenCalled();
    idle.setLimit(100);
    idle.reset();
    idle.disarm();
    vi.advanceTimersByTime(5000);
    expect(fired).not.toHaveBeenCalled();
  });
});
