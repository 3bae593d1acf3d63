// Coalescing work that events trigger: many events in a burst cause one run, never overlapping runs.

// `run` is async (e.g. a REST reload). Calls while it runs mark it dirty; it runs once more after.
export function coalesce(run) {
  let running = false;
  let dirty = false;
  return async function trigger() {
    if (running) {
      dirty = true;
      return;
    }
    running = true;
    try {
      do {
        dirty = false;
        await run();
      } while (dirty);
    } finally {
      running = false;
    }
  };
}

// Items pushed in a burst are handed to `apply` together, once per animation frame.
export function perFrame(apply) {
  let queue = [];
  let scheduled = false;
  return function push(item) {
    queue.push(item);
    if (scheduled) return;
    scheduled = true;
    const flush = () => {
      const batch = queue;
      queue = [];
      scheduled = false;
      apply(batch);
    };
    // a hidden tab gets no animation frames: it still keeps up, ten times a second
    if (document.visibilityState === 'hidden') setTimeout(flush, 100);
    else requestAnimationFrame(flush);
  };
}
