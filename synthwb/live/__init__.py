"""Forward testing on the validator's cadence and a local forecast service for a miner.

- :mod:`synthwb.live.spec`: :class:`LiveSpec`, what a forward test scores (runs, baselines, a
  competition of a validator version, the clock).
- :mod:`synthwb.live.state`: its folder under the store (``models_store/_live/<name>/``): the
  state file (written atomically), the responses in the validator's format, the pending paths,
  the chart rows, the runner's lock and the stop request.
- :mod:`synthwb.live.clock`: the wall clock and the simulated clock (a speed factor, or step
  from event to event as fast as possible) over stored history.
- :mod:`synthwb.live.engine`: the loop (:func:`run_live`): at each scored request of the
  validator's cadence forecast and store the response; once its realised window has closed and
  its prices are in the lake, score it with the exact scorer. Resumes from disk.
- :mod:`synthwb.live.report`: rolling scores, the competition's reward replay, coverage,
  warnings when a model falls behind a baseline.
- :mod:`synthwb.live.serve`: ``synthwb serve``, an HTTP endpoint answering the validator's
  request fields with a response the version accepts.
- :mod:`synthwb.live.job`: the "live" background job kind and the resume of forward tests
  after an app restart.
"""
