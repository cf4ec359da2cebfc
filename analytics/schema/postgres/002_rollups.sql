-- Hourly rollups, maintained by the writer for the hours each batch touches.
CREATE TABLE IF NOT EXISTS llm_cost_hourly (
    hour          timestamptz      NOT NULL,
    workflow      text             NOT NULL,
    provider      text             NOT NULL,
    model         text             NOT NULL,
    calls         bigint           NOT NULL,
    failed_calls  bigint           NOT NULL,
    input_tokens  bigint           NOT NULL,
    output_tokens bigint           NOT NULL,
    cost_usd      double precision NOT NULL,
    PRIMARY KEY (hour, workflow, provider, model)
);

CREATE TABLE IF NOT EXISTS workflow_runs_hourly (
    hour          timestamptz      NOT NULL,
    workflow      text             NOT NULL,
    version       text             NOT NULL,
    runs          bigint           NOT NULL,
    successes     bigint           NOT NULL,
    duration_sum  double precision NOT NULL,
    PRIMARY KEY (hour, workflow, version)
);
