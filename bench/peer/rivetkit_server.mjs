// The RivetKit twin of actorscope's benchmark actors: a counter and a
// three-step workflow, served by rivetkit's own registry.start() with its
// local file-system driver. Started by bench/peer/run.py, never committed
// with its dependencies (they are installed into a cache at bench time).
import { actor, setup } from "rivetkit";
import { workflow } from "rivetkit/workflow";

const counter = actor({
  state: { count: 0 },
  actions: {
    increment: (c, n = 1) => {
      c.state.count += n;
      return c.state.count;
    },
  },
});

const steps = actor({
  state: { runs: 0 },
  run: workflow(async (ctx) => {
    await ctx.step("one", async () => 1);
    await ctx.step("two", async () => 2);
    await ctx.step("three", async () => 3);
  }),
  actions: { runs: (c) => c.state.runs },
});

// A free port from PEER_PORT on; run.py reads the one chosen from the banner.
setup({ use: { counter, steps }, managerPort: Number(process.env.PEER_PORT ?? 6420) }).start();
