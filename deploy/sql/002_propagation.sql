-- faultline schema, version 2: effective states and their propagation,
-- services and declared dependencies, maintenance windows, graph history,
-- and the views operators query: status, root_cause, impact, availability,
-- notifications.
--
-- Propagation itself runs in the collector that holds the propagation lock
-- (advisory lock 7411100): it keeps the graph in memory, takes the nodes
-- that changed from faultline.dirty (filled by the triggers below, woken by
-- NOTIFY faultline_dirty), recomputes only the ancestors whose effective
-- state changes and writes them back here.

ALTER TABLE faultline.nodes
    ADD COLUMN effective_state faultline.state NOT NULL DEFAULT 'ok',
    ADD COLUMN effective_since timestamptz NOT NULL DEFAULT now(),
    ADD COLUMN effective_cause text,          -- the dependency that made it worse, if any
    ADD COLUMN stale boolean NOT NULL DEFAULT false, -- its agent went silent: own state counts as unknown
    ADD COLUMN declared boolean NOT NULL DEFAULT false; -- created by an operator (services, placeholders)

-- Own state as propagation sees it: silence is unknown, never a failure.
CREATE FUNCTION faultline.own_effective(s faultline.state, stale boolean)
RETURNS faultline.state LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN stale THEN greatest(s, 'unknown'::faultline.state) ELSE s END
$$;

-- Nodes whose effective state must be recomputed. graph: their edges or
-- min_ok changed too, reload them.
CREATE TABLE faultline.dirty (
    node_id bigint PRIMARY KEY,
    graph   boolean NOT NULL DEFAULT false
);

CREATE TABLE faultline.effective_changes (
    id        bigserial PRIMARY KEY,
    node_id   bigint NOT NULL REFERENCES faultline.nodes (id) ON DELETE CASCADE,
    at        timestamptz NOT NULL DEFAULT now(),
    old_state faultline.state,
    new_state faultline.state NOT NULL,
    cause     text
);
CREATE INDEX effective_changes_node ON faultline.effective_changes (node_id, at);

-- Every edge that ever existed, with its validity interval, so that the
-- stack at a past moment is a query.
CREATE TABLE faultline.edge_history (
    from_id    bigint NOT NULL REFERENCES faultline.nodes (id) ON DELETE CASCADE,
    to_id      bigint NOT NULL REFERENCES faultline.nodes (id) ON DELETE CASCADE,
    type       text NOT NULL,
    declared   boolean NOT NULL,
    valid_from timestamptz NOT NULL DEFAULT now(),
    valid_to   timestamptz
);
CREATE INDEX edge_history_from ON faultline.edge_history (from_id, valid_from);
INSERT INTO faultline.edge_history (from_id, to_id, type, declared, valid_from)
SELECT from_id, to_id, type, agent_id IS NULL, created_at FROM faultline.edges;

CREATE TABLE faultline.maintenance (
    id         serial PRIMARY KEY,
    node_id    bigint NOT NULL REFERENCES faultline.nodes (id) ON DELETE CASCADE,
    starts     timestamptz NOT NULL,
    ends       timestamptz NOT NULL CHECK (ends > starts),
    reason     text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX maintenance_node ON faultline.maintenance (node_id, starts);

CREATE FUNCTION faultline.in_maintenance(p_node bigint, p_at timestamptz DEFAULT now())
RETURNS boolean LANGUAGE sql STABLE AS $$
    SELECT EXISTS (SELECT 1 FROM faultline.maintenance m
                    WHERE m.node_id = p_node AND p_at >= m.starts AND p_at < m.ends)
$$;

-- Triggers: every change that can move an effective state marks the node
-- dirty and wakes the propagation leader.
CREATE FUNCTION faultline.nodes_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO faultline.dirty (node_id, graph) SELECT id, true FROM new_rows
    ON CONFLICT (node_id) DO UPDATE SET graph = true;
    PERFORM pg_notify('faultline_dirty', '');
    RETURN NULL;
END $$;

-- A row trigger with a WHEN clause rather than a statement trigger joining
-- transition tables: the leader's own writes of effective states (tens of
-- thousands of rows in one statement) do not fire it at all, and the
-- tables have no statistics a join could be planned with.
CREATE FUNCTION faultline.node_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- The history of own states (as propagation sees them: silence is
    -- unknown), whoever changed them: an agent, the silence check, an
    -- operator's UPDATE.
    IF faultline.own_effective(NEW.own_state, NEW.stale) IS DISTINCT FROM
       faultline.own_effective(OLD.own_state, OLD.stale) THEN
        INSERT INTO faultline.state_changes (node_id, at, old_state, new_state, reason)
        VALUES (NEW.id, CASE WHEN NEW.since IS DISTINCT FROM OLD.since THEN NEW.since ELSE now() END,
                faultline.own_effective(OLD.own_state, OLD.stale), faultline.own_effective(NEW.own_state, NEW.stale),
                CASE WHEN NEW.stale AND NEW.own_state < 'unknown' THEN 'agent silent' ELSE NEW.reason END);
    END IF;
    INSERT INTO faultline.dirty (node_id, graph)
    VALUES (NEW.id, NEW.min_ok IS DISTINCT FROM OLD.min_ok OR NEW.removed_at IS DISTINCT FROM OLD.removed_at)
    ON CONFLICT (node_id) DO UPDATE SET graph = faultline.dirty.graph OR excluded.graph;
    -- identical notifications of one transaction are delivered once
    PERFORM pg_notify('faultline_dirty', '');
    RETURN NULL;
END $$;

-- apply_states no longer writes the history itself: the trigger above does.
CREATE OR REPLACE FUNCTION faultline.apply_states(p_agent integer, p_doc jsonb)
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

    UPDATE faultline.nodes n
       SET since = CASE WHEN n.own_state IS DISTINCT FROM s.state THEN s.since ELSE n.since END,
           own_state = s.state, reason = s.reason, last_seen = now()
      FROM fl_inv_states s
     WHERE n.id = s.node_id
       AND (n.own_state IS DISTINCT FROM s.state OR n.reason IS DISTINCT FROM s.reason
            OR n.last_seen IS NULL OR n.last_seen < now() - interval '1 minute');
END $$;

CREATE TRIGGER nodes_inserted AFTER INSERT ON faultline.nodes
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION faultline.nodes_changed();
CREATE TRIGGER nodes_updated AFTER UPDATE ON faultline.nodes FOR EACH ROW
    WHEN (OLD.own_state IS DISTINCT FROM NEW.own_state OR OLD.stale IS DISTINCT FROM NEW.stale
          OR OLD.min_ok IS DISTINCT FROM NEW.min_ok OR OLD.removed_at IS DISTINCT FROM NEW.removed_at)
    EXECUTE FUNCTION faultline.node_changed();

CREATE FUNCTION faultline.nodes_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO faultline.dirty (node_id, graph) SELECT id, true FROM old_rows
    ON CONFLICT (node_id) DO UPDATE SET graph = true;
    PERFORM pg_notify('faultline_dirty', '');
    RETURN NULL;
END $$;
CREATE TRIGGER nodes_deleted AFTER DELETE ON faultline.nodes
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION faultline.nodes_deleted();

CREATE FUNCTION faultline.edges_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO faultline.edge_history (from_id, to_id, type, declared)
        SELECT from_id, to_id, type, agent_id IS NULL FROM new_rows;
        INSERT INTO faultline.dirty (node_id, graph) SELECT DISTINCT from_id, true FROM new_rows
        ON CONFLICT (node_id) DO UPDATE SET graph = true;
    ELSE
        UPDATE faultline.edge_history h SET valid_to = now()
          FROM old_rows o
         WHERE h.from_id = o.from_id AND h.to_id = o.to_id AND h.type = o.type AND h.valid_to IS NULL;
        INSERT INTO faultline.dirty (node_id, graph) SELECT DISTINCT from_id, true FROM old_rows
        ON CONFLICT (node_id) DO UPDATE SET graph = true;
    END IF;
    PERFORM pg_notify('faultline_dirty', '');
    RETURN NULL;
END $$;
CREATE TRIGGER edges_inserted AFTER INSERT ON faultline.edges
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION faultline.edges_changed();
CREATE TRIGGER edges_deleted AFTER DELETE ON faultline.edges
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION faultline.edges_changed();

-- Agents silent for more than k of their intervals: their nodes are stale
-- (unknown), and no longer once they report again. Run by the leader.
CREATE FUNCTION faultline.mark_silent_agents(k integer)
RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
    changed integer;
BEGIN
    WITH silent AS (
        -- a revoked agent is as silent as one that stopped
        SELECT a.id, (a.revoked_at IS NOT NULL OR a.last_seen IS NULL
                      OR a.last_seen < now() - k * greatest(a.interval_ms, 1000) * interval '1 ms') AS s
          FROM faultline.agents a)
    UPDATE faultline.nodes n SET stale = silent.s
      FROM silent
     WHERE n.agent_id = silent.id AND n.stale IS DISTINCT FROM silent.s AND n.removed_at IS NULL;
    GET DIAGNOSTICS changed = ROW_COUNT;
    RETURN changed;
END $$;

-- Refuses an edge that would close a cycle; returns the cycle (from the new
-- edge's target back to its source) or NULL when there is none. Breadth
-- first from p_to with a visited set: each node once, however many paths.
CREATE FUNCTION faultline.find_cycle(p_from bigint, p_to bigint)
RETURNS text[] LANGUAGE plpgsql STABLE AS $$
DECLARE
    seen bigint[] := ARRAY[p_to];
    parent bigint[] := ARRAY[NULL::bigint];
    front bigint[] := ARRAY[p_to];
    nxt bigint[];
    nxt_parent bigint[];
    pos integer;
    cur bigint;
    chain bigint[] := '{}';
BEGIN
    IF p_to = p_from THEN
        RETURN ARRAY[(SELECT key FROM faultline.nodes WHERE id = p_from)];
    END IF;
    WHILE coalesce(array_length(front, 1), 0) > 0 LOOP
        SELECT array_agg(x.to_id), array_agg(x.from_id) INTO nxt, nxt_parent
          FROM (SELECT DISTINCT ON (e.to_id) e.to_id, e.from_id
                  FROM faultline.edges e
                 WHERE e.from_id = ANY (front) AND NOT e.to_id = ANY (seen)
                 ORDER BY e.to_id, e.from_id) x;
        EXIT WHEN nxt IS NULL;
        seen := seen || nxt;
        parent := parent || nxt_parent;
        IF p_from = ANY (nxt) THEN
            cur := p_from;
            WHILE cur IS NOT NULL LOOP
                chain := cur || chain;
                pos := array_position(seen, cur);
                cur := parent[pos];
            END LOOP;
            RETURN (SELECT array_agg(n.key ORDER BY o.ord)
                      FROM unnest(chain) WITH ORDINALITY AS o (id, ord) JOIN faultline.nodes n ON n.id = o.id);
        END IF;
        front := nxt;
    END LOOP;
    RETURN NULL;
END $$;

-- Declares "from depends on to" (an operator's edge, never touched by
-- discovery). Unknown keys become placeholders (the caller warns); a cycle
-- is refused with the cycle in the message.
CREATE FUNCTION faultline.declare_edge(p_from text, p_to text, p_type text DEFAULT 'depends_on')
RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    f bigint;
    t bigint;
    cyc text[];
BEGIN
    IF p_from = p_to THEN
        RAISE EXCEPTION 'a node cannot depend on itself: %', p_from USING ERRCODE = 'check_violation';
    END IF;
    INSERT INTO faultline.nodes (key, kind, declared) VALUES (p_from, split_part(p_from, ':', 1), true)
    ON CONFLICT (key) DO NOTHING;
    INSERT INTO faultline.nodes (key, kind, declared) VALUES (p_to, split_part(p_to, ':', 1), true)
    ON CONFLICT (key) DO NOTHING;
    SELECT id INTO f FROM faultline.nodes WHERE key = p_from;
    SELECT id INTO t FROM faultline.nodes WHERE key = p_to;
    -- One declaration at a time, so that two cannot close a cycle together.
    PERFORM pg_advisory_xact_lock(7411003);
    cyc := faultline.find_cycle(f, t);
    IF cyc IS NOT NULL THEN
        RAISE EXCEPTION 'dependency cycle: % -> %', p_from, array_to_string(cyc, ' -> ')
            USING ERRCODE = 'check_violation';
    END IF;
    -- An edge an agent discovered becomes the operator's: discovery will not
    -- remove it any more. Its history says so from now on.
    UPDATE faultline.edge_history h SET valid_to = now()
      FROM faultline.edges e
     WHERE e.from_id = f AND e.to_id = t AND e.type = p_type AND e.agent_id IS NOT NULL
       AND h.from_id = f AND h.to_id = t AND h.type = p_type AND h.valid_to IS NULL;
    IF FOUND THEN
        INSERT INTO faultline.edge_history (from_id, to_id, type, declared) VALUES (f, t, p_type, true);
    END IF;
    INSERT INTO faultline.edges (from_id, to_id, type, agent_id) VALUES (f, t, p_type, NULL)
    ON CONFLICT (from_id, to_id, type) DO UPDATE SET agent_id = NULL;
END $$;

CREATE FUNCTION faultline.undeclare_edge(p_from text, p_to text)
RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
    removed integer;
BEGIN
    DELETE FROM faultline.edges e USING faultline.nodes f, faultline.nodes t
     WHERE e.from_id = f.id AND e.to_id = t.id AND f.key = p_from AND t.key = p_to AND e.agent_id IS NULL;
    GET DIAGNOSTICS removed = ROW_COUNT;
    RETURN removed;
END $$;

-- Root cause of one node: the nodes reachable along dependencies whose
-- effective state is not ok and that have a non-ok own state, each with
-- one shortest path from the node down to it. Breadth first with a visited
-- set: no depth limit, each node once however many paths lead to it, and no
-- temporary tables, so it also runs on a read-only replica.
CREATE FUNCTION faultline.root_cause_of(p_key text)
RETURNS TABLE (node_key text, node_state faultline.state, cause_key text, cause_state faultline.state,
               cause_reason text, cause_since timestamptz, path text[])
LANGUAGE plpgsql STABLE AS $$
DECLARE
    start faultline.nodes%ROWTYPE;
    seen bigint[];
    parent bigint[];
    front bigint[];
    nxt bigint[];
    nxt_parent bigint[];
BEGIN
    SELECT * INTO start FROM faultline.nodes WHERE key = p_key;
    IF NOT FOUND OR start.effective_state = 'ok' THEN
        RETURN;
    END IF;
    seen := ARRAY[start.id];
    parent := ARRAY[0::bigint];
    front := ARRAY[start.id];
    LOOP
        SELECT array_agg(x.to_id), array_agg(x.from_id) INTO nxt, nxt_parent
          FROM (SELECT DISTINCT ON (e.to_id) e.to_id, e.from_id
                  FROM faultline.edges e JOIN faultline.nodes d ON d.id = e.to_id
                 WHERE e.from_id = ANY (front) AND d.effective_state <> 'ok' AND d.removed_at IS NULL
                   AND NOT e.to_id = ANY (seen)
                 ORDER BY e.to_id, e.from_id) x;
        EXIT WHEN nxt IS NULL;
        seen := seen || nxt;
        parent := parent || nxt_parent;
        front := nxt;
    END LOOP;
    RETURN QUERY
    WITH RECURSIVE s AS (
        SELECT o.id, p.parent, o.ord
          FROM unnest(seen) WITH ORDINALITY AS o (id, ord)
          JOIN unnest(parent) WITH ORDINALITY AS p (parent, ord) ON p.ord = o.ord
    ), walk (cause, cur, keys) AS (
        SELECT s.id, s.parent, ARRAY[n.key]
          FROM s JOIN faultline.nodes n ON n.id = s.id
         WHERE faultline.own_effective(n.own_state, n.stale) <> 'ok'
        UNION ALL
        SELECT w.cause, s.parent, n.key || w.keys
          FROM walk w JOIN s ON s.id = w.cur JOIN faultline.nodes n ON n.id = w.cur
    )
    SELECT start.key, start.effective_state, c.key, faultline.own_effective(c.own_state, c.stale),
           CASE WHEN c.stale AND c.own_state < 'unknown' THEN 'agent silent' ELSE c.reason END,
           c.since, w.keys
      FROM walk w JOIN faultline.nodes c ON c.id = w.cause
     WHERE w.cur = 0
     ORDER BY faultline.own_effective(c.own_state, c.stale) DESC, array_length(w.keys, 1), c.key;
END $$;

-- Impact of one node: every node whose effective state it makes worse
-- (ancestors reached through nodes that are not ok), services first, with
-- the distance. Breadth first upward with a visited set.
CREATE FUNCTION faultline.impact_of(p_key text)
RETURNS TABLE (cause_key text, node_key text, node_kind text, node_state faultline.state, depth integer)
LANGUAGE plpgsql STABLE AS $$
DECLARE
    start faultline.nodes%ROWTYPE;
    seen bigint[];
    dist integer[];
    front bigint[];
    nxt bigint[];
    d integer := 0;
BEGIN
    SELECT * INTO start FROM faultline.nodes WHERE key = p_key;
    IF NOT FOUND OR faultline.own_effective(start.own_state, start.stale) = 'ok' THEN
        RETURN;
    END IF;
    seen := ARRAY[start.id];
    dist := ARRAY[0];
    front := ARRAY[start.id];
    LOOP
        d := d + 1;
        SELECT array_agg(DISTINCT e.from_id) INTO nxt
          FROM faultline.edges e JOIN faultline.nodes a ON a.id = e.from_id
         WHERE e.to_id = ANY (front) AND a.effective_state <> 'ok' AND a.removed_at IS NULL
           AND NOT e.from_id = ANY (seen);
        EXIT WHEN nxt IS NULL;
        seen := seen || nxt;
        dist := dist || array_fill(d, ARRAY[array_length(nxt, 1)]);
        front := nxt;
    END LOOP;
    RETURN QUERY
    SELECT p_key, n.key, n.kind, n.effective_state, o.dist
      FROM unnest(seen, dist) AS o (id, dist) JOIN faultline.nodes n ON n.id = o.id
     WHERE o.dist > 0
     ORDER BY (n.kind = 'service') DESC, o.dist, n.key;
END $$;

DROP VIEW faultline.status;
CREATE VIEW faultline.status AS
SELECT n.key, n.kind,
       faultline.own_effective(n.own_state, n.stale) AS own_state,
       n.effective_state,
       CASE WHEN n.stale AND n.own_state < 'unknown' THEN 'agent silent'
            WHEN n.effective_state > faultline.own_effective(n.own_state, n.stale) THEN 'via ' || n.effective_cause
            ELSE n.reason END AS reason,
       n.effective_since AS since,
       faultline.in_maintenance(n.id) AS in_maintenance,
       n.min_ok, n.last_seen, a.name AS agent, n.attributes
  FROM faultline.nodes n
  LEFT JOIN faultline.agents a ON a.id = n.agent_id
 WHERE n.removed_at IS NULL;

CREATE VIEW faultline.root_cause AS
SELECT r.*
  FROM faultline.nodes n, LATERAL faultline.root_cause_of(n.key) r
 WHERE n.effective_state <> 'ok' AND n.removed_at IS NULL;

CREATE VIEW faultline.impact AS
SELECT i.*
  FROM faultline.nodes n, LATERAL faultline.impact_of(n.key) i
 WHERE faultline.own_effective(n.own_state, n.stale) <> 'ok' AND n.removed_at IS NULL;

-- Uptime of a node (usually a service) over [p_from, p_to): time critical
-- is down; time unknown is a blind spot, reported apart and not counted as
-- down. Twice: as the users saw it, and without the time the node or
-- anything it depends on was in maintenance.
CREATE FUNCTION faultline.availability(p_key text, p_from timestamptz, p_to timestamptz)
RETURNS TABLE (node_key text, period_minutes numeric, down_minutes numeric, blind_minutes numeric,
               maintenance_minutes numeric, down_outside_maintenance_minutes numeric,
               uptime_pct numeric, uptime_excluding_maintenance_pct numeric)
LANGUAGE plpgsql STABLE AS $$
DECLARE
    nid bigint;
    total numeric := extract(epoch FROM p_to - p_from) / 60;
BEGIN
    SELECT id INTO nid FROM faultline.nodes WHERE key = p_key;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'no node "%"', p_key USING ERRCODE = 'no_data_found';
    END IF;
    IF p_to <= p_from THEN
        RAISE EXCEPTION 'the period must end after it starts' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    RETURN QUERY
    WITH RECURSIVE below (id) AS (
        -- the node and everything it depends on: planned work on any of
        -- them is what "excluding maintenance" leaves out
        SELECT nid
        UNION
        SELECT e.to_id FROM below b JOIN faultline.edges e ON e.from_id = b.id
    ), changes AS (
        -- the state at p_from, then every change inside the period
        SELECT p_from AS at, 0::bigint AS id,
               coalesce((SELECT c.new_state FROM faultline.effective_changes c
                          WHERE c.node_id = nid AND c.at <= p_from ORDER BY c.at DESC, c.id DESC LIMIT 1),
                        'ok') AS state
        UNION ALL
        SELECT c.at, c.id, c.new_state FROM faultline.effective_changes c
         WHERE c.node_id = nid AND c.at > p_from AND c.at < p_to
    ), spans AS (
        SELECT state, at AS s, coalesce(lead(at) OVER (ORDER BY at, id), p_to) AS e FROM changes
    ), maint AS (
        SELECT greatest(m.starts, p_from) AS s, least(m.ends, p_to) AS e
          FROM faultline.maintenance m
         WHERE m.node_id IN (SELECT id FROM below) AND m.ends > p_from AND m.starts < p_to
    ), maint_marked AS (
        -- overlapping windows are counted once: islands of overlap
        SELECT s, e, CASE WHEN s <= max(e) OVER (ORDER BY s, e ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING)
                          THEN 0 ELSE 1 END AS starts_island
          FROM maint
    ), maint_merged AS (
        SELECT min(s) AS s, max(e) AS e
          FROM (SELECT s, e, sum(starts_island) OVER (ORDER BY s, e) AS island FROM maint_marked) x
         GROUP BY island
    ), measured AS (
        SELECT
            sum(CASE WHEN sp.state = 'critical' THEN extract(epoch FROM sp.e - sp.s) ELSE 0 END) / 60 AS down,
            sum(CASE WHEN sp.state = 'unknown' THEN extract(epoch FROM sp.e - sp.s) ELSE 0 END) / 60 AS blind,
            sum(CASE WHEN sp.state = 'critical' THEN
                    extract(epoch FROM sp.e - sp.s) - coalesce((
                        SELECT sum(extract(epoch FROM least(sp.e, m.e) - greatest(sp.s, m.s)))
                          FROM maint_merged m WHERE m.e > sp.s AND m.s < sp.e), 0)
                ELSE 0 END) / 60 AS down_out,
            sum(CASE WHEN sp.state = 'unknown' THEN
                    extract(epoch FROM sp.e - sp.s) - coalesce((
                        SELECT sum(extract(epoch FROM least(sp.e, m.e) - greatest(sp.s, m.s)))
                          FROM maint_merged m WHERE m.e > sp.s AND m.s < sp.e), 0)
                ELSE 0 END) / 60 AS blind_out
          FROM spans sp
    ), mtotal AS (
        SELECT coalesce(sum(extract(epoch FROM e - s)), 0) / 60 AS m FROM maint_merged
    )
    SELECT p_key, round(total, 2), round(measured.down, 2), round(measured.blind, 2), round(mtotal.m, 2),
           round(measured.down_out, 2),
           round(100 * (1 - measured.down / nullif(total - measured.blind, 0)), 4),
           round(100 * (1 - measured.down_out / nullif(total - measured.blind_out - mtotal.m, 0)), 4)
      FROM measured, mtotal;
END $$;

-- Which effective state changes notify. Only root causes (a change of a
-- node's own failure) and services notify; any other node's change is
-- explained by a root cause below it, named in suppressed_by — and so is
-- its recovery, by the cause of the failure it ends. Nodes in maintenance
-- never notify.
CREATE VIEW faultline.notifications AS
WITH c AS (
    SELECT c.*, lag(c.cause) OVER (PARTITION BY c.node_id ORDER BY c.at, c.id) AS previous_cause
      FROM faultline.effective_changes c
)
SELECT c.id, c.at, n.key, n.kind, c.old_state, c.new_state,
       CASE WHEN faultline.in_maintenance(n.id, c.at) THEN false
            WHEN n.kind = 'service' THEN true
            WHEN c.new_state = 'ok' THEN c.previous_cause IS NULL
            ELSE c.cause IS NULL END AS notify,
       CASE WHEN faultline.in_maintenance(n.id, c.at) THEN 'maintenance'
            WHEN n.kind = 'service' THEN NULL
            WHEN c.new_state = 'ok' THEN c.previous_cause
            ELSE c.cause END AS suppressed_by
  FROM c JOIN faultline.nodes n ON n.id = c.node_id;

-- The edges as they were at a moment in the past.
CREATE FUNCTION faultline.edges_at(p_at timestamptz)
RETURNS TABLE (from_key text, to_key text, type text, declared boolean)
LANGUAGE sql STABLE AS $$
    SELECT f.key, t.key, h.type, h.declared
      FROM faultline.edge_history h
      JOIN faultline.nodes f ON f.id = h.from_id
      JOIN faultline.nodes t ON t.id = h.to_id
     WHERE h.valid_from <= p_at AND (h.valid_to IS NULL OR h.valid_to > p_at)
$$;

-- Effective and own state of every node at a moment in the past.
CREATE FUNCTION faultline.states_at(p_at timestamptz)
RETURNS TABLE (node_key text, own_state faultline.state, effective_state faultline.state, cause text)
LANGUAGE sql STABLE AS $$
    SELECT n.key,
           coalesce((SELECT s.new_state FROM faultline.state_changes s
                      WHERE s.node_id = n.id AND s.at <= p_at ORDER BY s.at DESC, s.id DESC LIMIT 1), 'ok'),
           coalesce(e.new_state, 'ok'), e.cause
      FROM faultline.nodes n
      LEFT JOIN LATERAL (SELECT c.new_state, c.cause FROM faultline.effective_changes c
                          WHERE c.node_id = n.id AND c.at <= p_at ORDER BY c.at DESC, c.id DESC LIMIT 1) e ON true
     WHERE n.first_seen <= p_at
$$;

-- Root cause of a node at a moment in the past, from the history tables:
-- breadth first over the edges valid then, through the nodes that were not
-- ok then, each node once.
CREATE FUNCTION faultline.root_cause_at(p_key text, p_at timestamptz)
RETURNS TABLE (cause_key text, cause_state faultline.state, path text[])
LANGUAGE plpgsql STABLE AS $$
DECLARE
    start bigint;
    seen bigint[];
    parent bigint[];
    front bigint[];
    nxt bigint[];
    nxt_parent bigint[];
BEGIN
    SELECT id INTO start FROM faultline.nodes WHERE key = p_key;
    IF NOT FOUND OR faultline.effective_at(start, p_at) = 'ok' THEN
        RETURN;
    END IF;
    seen := ARRAY[start];
    parent := ARRAY[0::bigint];
    front := ARRAY[start];
    LOOP
        SELECT array_agg(x.to_id), array_agg(x.from_id) INTO nxt, nxt_parent
          FROM (SELECT DISTINCT ON (h.to_id) h.to_id, h.from_id
                  FROM faultline.edge_history h
                 WHERE h.from_id = ANY (front) AND NOT h.to_id = ANY (seen)
                   AND h.valid_from <= p_at AND (h.valid_to IS NULL OR h.valid_to > p_at)
                   AND faultline.effective_at(h.to_id, p_at) <> 'ok'
                 ORDER BY h.to_id, h.from_id) x;
        EXIT WHEN nxt IS NULL;
        seen := seen || nxt;
        parent := parent || nxt_parent;
        front := nxt;
    END LOOP;
    RETURN QUERY
    WITH RECURSIVE s AS (
        SELECT o.id, p.parent
          FROM unnest(seen) WITH ORDINALITY AS o (id, ord)
          JOIN unnest(parent) WITH ORDINALITY AS p (parent, ord) ON p.ord = o.ord
    ), walk (cause, own, cur, keys) AS (
        SELECT s.id, faultline.own_at(s.id, p_at), s.parent, ARRAY[n.key]
          FROM s JOIN faultline.nodes n ON n.id = s.id
         WHERE faultline.own_at(s.id, p_at) <> 'ok'
        UNION ALL
        SELECT w.cause, w.own, s.parent, n.key || w.keys
          FROM walk w JOIN s ON s.id = w.cur JOIN faultline.nodes n ON n.id = w.cur
    )
    SELECT n.key, w.own, w.keys
      FROM walk w JOIN faultline.nodes n ON n.id = w.cause
     WHERE w.cur = 0
     ORDER BY w.own DESC, array_length(w.keys, 1), n.key;
END $$;

-- A node's own and effective state at a moment in the past.
CREATE FUNCTION faultline.own_at(p_node bigint, p_at timestamptz)
RETURNS faultline.state LANGUAGE sql STABLE AS $$
    SELECT coalesce((SELECT s.new_state FROM faultline.state_changes s
                      WHERE s.node_id = p_node AND s.at <= p_at ORDER BY s.at DESC, s.id DESC LIMIT 1), 'ok')
$$;
CREATE FUNCTION faultline.effective_at(p_node bigint, p_at timestamptz)
RETURNS faultline.state LANGUAGE sql STABLE AS $$
    SELECT coalesce((SELECT c.new_state FROM faultline.effective_changes c
                      WHERE c.node_id = p_node AND c.at <= p_at ORDER BY c.at DESC, c.id DESC LIMIT 1), 'ok')
$$;
