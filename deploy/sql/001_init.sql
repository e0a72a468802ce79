-- faultline schema, version 1: agents and their keys, the replay high-water
-- mark, nodes, edges, own states and their history, metric series and
-- time-partitioned samples, rejection counters, and the status view.

CREATE TYPE faultline.state AS ENUM ('ok', 'warning', 'unknown', 'critical');

-- Agents are known by their public key; the secret never leaves the host.
CREATE TABLE faultline.agents (
    id          serial PRIMARY KEY,
    name        text NOT NULL CHECK (name ~ '^[A-Za-z0-9][A-Za-z0-9._-]{0,252}$'),
    public_key  bytea NOT NULL UNIQUE CHECK (length(public_key) = 32),
    created_at  timestamptz NOT NULL DEFAULT now(),
    revoked_at  timestamptz,
    last_seen   timestamptz,
    hostname    text,
    version     text,
    interval_ms integer,
    spool_bytes bigint,
    dropped_batches bigint
);
-- A name can be reused after its agent was revoked; a key never can.
CREATE UNIQUE INDEX agents_active_name ON faultline.agents (name) WHERE revoked_at IS NULL;

-- Highest (boot epoch, sequence) committed per agent, updated in the same
-- transaction as the batch it belongs to.
CREATE TABLE faultline.agent_sequence (
    agent_id   integer PRIMARY KEY REFERENCES faultline.agents (id),
    boot_epoch bigint NOT NULL,
    sequence   bigint NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE faultline.nodes (
    id         bigserial PRIMARY KEY,
    key        text NOT NULL UNIQUE CHECK (key ~ '^[a-z]+:.+'),
    kind       text NOT NULL,
    attributes jsonb NOT NULL DEFAULT '{}',
    min_ok     integer CHECK (min_ok >= 0),
    agent_id   integer REFERENCES faultline.agents (id), -- discovering agent; NULL: declared or placeholder
    own_state  faultline.state NOT NULL DEFAULT 'ok',
    reason     text,
    since      timestamptz NOT NULL DEFAULT now(),
    first_seen timestamptz NOT NULL DEFAULT now(),
    last_seen  timestamptz,
    removed_at timestamptz -- no longer discovered; not a failure
);
CREATE INDEX nodes_agent ON faultline.nodes (agent_id);

-- "from depends on to". agent_id NULL: declared by an operator, never
-- touched by discovery.
CREATE TABLE faultline.edges (
    from_id    bigint NOT NULL REFERENCES faultline.nodes (id) ON DELETE CASCADE,
    to_id      bigint NOT NULL REFERENCES faultline.nodes (id) ON DELETE CASCADE,
    type       text NOT NULL,
    agent_id   integer REFERENCES faultline.agents (id),
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (from_id, to_id, type)
);
CREATE INDEX edges_to ON faultline.edges (to_id);
CREATE INDEX edges_agent ON faultline.edges (agent_id);

CREATE TABLE faultline.state_changes (
    id        bigserial PRIMARY KEY,
    node_id   bigint NOT NULL REFERENCES faultline.nodes (id) ON DELETE CASCADE,
    at        timestamptz NOT NULL DEFAULT now(),
    old_state faultline.state,
    new_state faultline.state NOT NULL,
    reason    text
);
CREATE INDEX state_changes_node ON faultline.state_changes (node_id, at);

CREATE TABLE faultline.series (
    id      bigserial PRIMARY KEY,
    node_id bigint NOT NULL REFERENCES faultline.nodes (id) ON DELETE CASCADE,
    metric  text NOT NULL,
    unit    text,
    UNIQUE (node_id, metric)
);

-- Samples are partitioned by day; old days are dropped whole for retention.
-- Keyed by series id so that the table can be distributed by it later.
CREATE TABLE faultline.samples (
    series_id bigint NOT NULL,
    ts        timestamptz NOT NULL,
    value     double precision NOT NULL
) PARTITION BY RANGE (ts);
CREATE TABLE faultline.samples_default PARTITION OF faultline.samples DEFAULT;
CREATE INDEX samples_series_ts ON faultline.samples (series_id, ts);

-- Messages refused by a collector, by reason. Nothing of their content is
-- kept: only that they came and why they were refused.
CREATE TABLE faultline.rejections (
    collector text NOT NULL,
    reason    text NOT NULL,
    count     bigint NOT NULL DEFAULT 0,
    last_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (collector, reason)
);

-- Creates the daily partitions from days_back days ago to days_ahead days
-- ahead. Rows that landed in the default partition for such a day are moved
-- into the new partition, so nothing is lost when a day was missed.
CREATE FUNCTION faultline.ensure_sample_partitions(days_back integer, days_ahead integer)
RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
    d date;
    name text;
    created integer := 0;
BEGIN
    -- Collectors starting together must not race to create the same day.
    PERFORM pg_advisory_xact_lock(7411002);
    FOR d IN SELECT generate_series(current_date - days_back, current_date + days_ahead, '1 day')::date LOOP
        name := 'samples_' || to_char(d, 'YYYYMMDD');
        IF to_regclass('faultline.' || name) IS NULL THEN
            CREATE TEMP TABLE IF NOT EXISTS fl_moved (LIKE faultline.samples) ON COMMIT DROP;
            WITH moved AS (
                DELETE FROM faultline.samples_default
                 WHERE ts >= d AND ts < d + 1 RETURNING *)
            INSERT INTO fl_moved SELECT * FROM moved;
            EXECUTE format('CREATE TABLE faultline.%I PARTITION OF faultline.samples FOR VALUES FROM (%L) TO (%L)',
                           name, d::timestamptz, (d + 1)::timestamptz);
            INSERT INTO faultline.samples SELECT * FROM fl_moved;
            DELETE FROM fl_moved;
            created := created + 1;
        END IF;
    END LOOP;
    RETURN created;
END $$;

-- Drops daily partitions older than keep_days.
CREATE FUNCTION faultline.drop_old_sample_partitions(keep_days integer)
RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
    r record;
    dropped integer := 0;
BEGIN
    PERFORM pg_advisory_xact_lock(7411002);
    FOR r IN
        SELECT c.relname
          FROM pg_inherits i
          JOIN pg_class c ON c.oid = i.inhrelid
          JOIN pg_class p ON p.oid = i.inhparent
          JOIN pg_namespace n ON n.oid = p.relnamespace
         WHERE n.nspname = 'faultline' AND p.relname = 'samples'
           AND c.relname ~ '^samples_[0-9]{8}$'
           AND to_date(substr(c.relname, 9), 'YYYYMMDD') < current_date - keep_days
    LOOP
        EXECUTE format('DROP TABLE faultline.%I', r.relname);
        dropped := dropped + 1;
    END LOOP;
    RETURN dropped;
END $$;

-- Replay protection. For each batch, in order, accepts it when its
-- (boot epoch, sequence) is above the agent's high-water mark and raises the
-- mark; otherwise says 'duplicate' (same epoch, already committed) or
-- 'stale' (an older epoch). Row locks serialise collectors that race on the
-- same agent, so a batch is committed at most once.
CREATE FUNCTION faultline.claim_batches(p_agent integer[], p_epoch bigint[], p_seq bigint[])
RETURNS TABLE (idx integer, verdict text) LANGUAGE plpgsql AS $$
DECLARE
    e bigint;
    s bigint;
BEGIN
    FOR i IN 1 .. coalesce(array_length(p_agent, 1), 0) LOOP
        INSERT INTO faultline.agent_sequence (agent_id, boot_epoch, sequence)
        VALUES (p_agent[i], 0, 0) ON CONFLICT (agent_id) DO NOTHING;
        SELECT a.boot_epoch, a.sequence INTO e, s
          FROM faultline.agent_sequence a WHERE a.agent_id = p_agent[i] FOR UPDATE;
        idx := i;
        IF p_epoch[i] > e OR (p_epoch[i] = e AND p_seq[i] > s) THEN
            UPDATE faultline.agent_sequence
               SET boot_epoch = p_epoch[i], sequence = p_seq[i], updated_at = now()
             WHERE agent_id = p_agent[i];
            verdict := 'ok';
        ELSIF p_epoch[i] = e THEN
            verdict := 'duplicate';
        ELSE
            verdict := 'stale';
        END IF;
        RETURN NEXT;
    END LOOP;
END $$;

-- Nodes that do not exist yet are created as placeholders (kind from the key),
-- so edges, states and series can refer to them in any order.
CREATE FUNCTION faultline.ensure_nodes(p_keys text[])
RETURNS void LANGUAGE sql AS $$
    INSERT INTO faultline.nodes (key, kind)
    SELECT DISTINCT k, split_part(k, ':', 1) FROM unnest(p_keys) AS k
    ON CONFLICT (key) DO NOTHING;
$$;

-- An agent's inventory. Nodes another agent discovered are not taken over.
-- full: what the agent discovered before and not now is removed: its edges
-- are deleted, its nodes marked removed (not failed).
CREATE FUNCTION faultline.apply_inventory(p_agent integer, p_doc jsonb)
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO faultline.nodes AS n (key, kind, attributes, min_ok, agent_id, last_seen, removed_at)
    SELECT DISTINCT ON (x.key) x.key, x.kind, coalesce(x.attributes, '{}'), x.min_ok, p_agent, now(), NULL
      FROM jsonb_to_recordset(coalesce(p_doc -> 'nodes', '[]')) AS x (key text, kind text, attributes jsonb, min_ok integer)
    ON CONFLICT (key) DO UPDATE
       SET kind = excluded.kind, attributes = excluded.attributes, min_ok = excluded.min_ok,
           agent_id = excluded.agent_id, last_seen = now(), removed_at = NULL
     WHERE n.agent_id IS NULL OR n.agent_id = excluded.agent_id
        OR EXISTS (SELECT 1 FROM faultline.agents a WHERE a.id = n.agent_id AND a.revoked_at IS NOT NULL);

    PERFORM faultline.ensure_nodes(array_agg(k))
       FROM (SELECT e ->> 'from' AS k FROM jsonb_array_elements(coalesce(p_doc -> 'edges', '[]')) e
             UNION SELECT e ->> 'to' FROM jsonb_array_elements(coalesce(p_doc -> 'edges', '[]')) e) keys;

    CREATE TEMP TABLE IF NOT EXISTS fl_inv_edges (from_id bigint, to_id bigint, type text) ON COMMIT DROP;
    DELETE FROM fl_inv_edges;
    INSERT INTO fl_inv_edges
    SELECT DISTINCT f.id, t.id, e ->> 'type'
      FROM jsonb_array_elements(coalesce(p_doc -> 'edges', '[]')) e
      JOIN faultline.nodes f ON f.key = e ->> 'from'
      JOIN faultline.nodes t ON t.key = e ->> 'to';

    IF (p_doc ->> 'full')::boolean THEN
        DELETE FROM faultline.edges d
         WHERE d.agent_id = p_agent
           AND NOT EXISTS (SELECT 1 FROM fl_inv_edges x
                            WHERE x.from_id = d.from_id AND x.to_id = d.to_id AND x.type = d.type);
        UPDATE faultline.nodes n SET removed_at = now()
         WHERE n.agent_id = p_agent AND n.removed_at IS NULL
           AND n.key NOT IN (SELECT x.key FROM jsonb_to_recordset(coalesce(p_doc -> 'nodes', '[]')) AS x (key text));
    END IF;

    INSERT INTO faultline.edges (from_id, to_id, type, agent_id)
    SELECT from_id, to_id, type, p_agent FROM fl_inv_edges
    ON CONFLICT (from_id, to_id, type) DO NOTHING;
END $$;

-- An agent's detector results, for nodes it owns. full: nodes of this agent
-- it says nothing about are back to ok. Every change is kept in
-- state_changes.
CREATE FUNCTION faultline.apply_states(p_agent integer, p_doc jsonb)
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    CREATE TEMP TABLE IF NOT EXISTS fl_inv_states (node_id bigint, state faultline.state, reason text, since timestamptz)
        ON COMMIT DROP;
    DELETE FROM fl_inv_states;
    INSERT INTO fl_inv_states
    SELECT DISTINCT ON (n.id) n.id, x.state::faultline.state, x.reason,
           coalesce(to_timestamp(x.since_us / 1e6), now())
      FROM jsonb_to_recordset(coalesce(p_doc -> 'states', '[]')) AS x (key text, state text, reason text, since_us bigint)
      JOIN faultline.nodes n ON n.key = x.key AND n.agent_id = p_agent;

    IF (p_doc ->> 'full')::boolean THEN
        INSERT INTO fl_inv_states
        SELECT n.id, 'ok', NULL, now() FROM faultline.nodes n
         WHERE n.agent_id = p_agent AND n.own_state <> 'ok'
           AND NOT EXISTS (SELECT 1 FROM fl_inv_states s WHERE s.node_id = n.id);
    END IF;

    INSERT INTO faultline.state_changes (node_id, at, old_state, new_state, reason)
    SELECT n.id, s.since, n.own_state, s.state, s.reason
      FROM fl_inv_states s JOIN faultline.nodes n ON n.id = s.node_id
     WHERE n.own_state IS DISTINCT FROM s.state;

    UPDATE faultline.nodes n
       SET since = CASE WHEN n.own_state IS DISTINCT FROM s.state THEN s.since ELSE n.since END,
           own_state = s.state, reason = s.reason, last_seen = now()
      FROM fl_inv_states s WHERE n.id = s.node_id;
END $$;

-- Series ids for (node key, metric) pairs, created when new. Returns the
-- 1-based position of each pair and its id.
CREATE FUNCTION faultline.resolve_series(p_keys text[], p_metrics text[], p_units text[])
RETURNS TABLE (idx integer, series_id bigint) LANGUAGE plpgsql AS $$
BEGIN
    PERFORM faultline.ensure_nodes(p_keys);
    INSERT INTO faultline.series (node_id, metric, unit)
    SELECT DISTINCT ON (n.id, m.metric) n.id, m.metric, m.unit
      FROM unnest(p_keys, p_metrics, p_units) AS m (key, metric, unit)
      JOIN faultline.nodes n ON n.key = m.key
    ON CONFLICT (node_id, metric) DO NOTHING;
    RETURN QUERY
    SELECT m.ord::integer, s.id
      FROM unnest(p_keys, p_metrics) WITH ORDINALITY AS m (key, metric, ord)
      JOIN faultline.nodes n ON n.key = m.key
      JOIN faultline.series s ON s.node_id = n.id AND s.metric = m.metric;
END $$;

CREATE FUNCTION faultline.apply_heartbeats(p_agent integer[], p_time_us bigint[], p_interval_ms integer[],
                                           p_hostname text[], p_version text[], p_spool bigint[],
                                           p_dropped bigint[])
RETURNS void LANGUAGE sql AS $$
    UPDATE faultline.agents a
       SET last_seen = greatest(a.last_seen, to_timestamp(h.t / 1e6)), interval_ms = h.i, hostname = h.h,
           version = h.v, spool_bytes = h.s, dropped_batches = h.d
      FROM (SELECT DISTINCT ON (x.a) x.*
              FROM unnest(p_agent, p_time_us, p_interval_ms, p_hostname, p_version, p_spool, p_dropped)
                   AS x (a, t, i, h, v, s, d)
             ORDER BY x.a, x.t DESC) h
     WHERE a.id = h.a;
$$;

-- What operators look at first: every node with its state.
CREATE VIEW faultline.status AS
SELECT n.key, n.kind, n.own_state AS state, n.reason, n.since, n.last_seen,
       a.name AS agent, n.attributes
  FROM faultline.nodes n
  LEFT JOIN faultline.agents a ON a.id = n.agent_id
 WHERE n.removed_at IS NULL;
