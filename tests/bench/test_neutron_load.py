"""bench/neutron_load.py on fixture text shaped as neutron-server, MariaDB and the lab probe
print it (issue 21 part 3): RPC handling times, database load, heartbeats, the throttle."""

from __future__ import annotations

from bench import neutron_load as nl

AMQP = "oslo_messaging._drivers.amqpdriver"
SUFFIX = " _send_reply /opt/stackhop/venvs/2025.1/lib/python3.11/site-packages/oslo_messaging/_drivers/amqpdriver.py:189"
SERVER_LOG = "\n".join([
    "2025-06-01 12:00:00.101 812 INFO neutron.common.config [-] Logging enabled!",
    "2025-06-01 12:00:01.234 812 DEBUG %s [-] received message msg_id: a1 reply to reply_q1 __call__ x.py:391" % AMQP,
    "2025-06-01 12:00:01.250 812 DEBUG %s [-] sending reply msg_id: a1 reply queue: reply_q1 "
    "time elapsed: 0.0160s%s" % (AMQP, SUFFIX),
    "2025-06-01 12:00:02.000 815 DEBUG %s [None req-1 - - - - - -] sending reply msg_id: b2 reply queue: "
    "reply_q2 time elapsed: 2.5s%s" % (AMQP, SUFFIX),
    "2025-06-01 12:00:02.100 815 DEBUG %s [-] sending reply msg_id: b3 reply queue: reply_q2 "
    "time elapsed: 0.75s%s" % (AMQP, SUFFIX),
    "2025-06-01 12:00:02.300 812 DEBUG %s [-] sending reply msg_id: a4 reply queue: reply_q3 "
    "time elapsed: 9.5e-05s%s" % (AMQP, SUFFIX),
    "2025-06-01 12:00:03.000 812 WARNING neutron.db.agents_db [-] Agent healthcheck: found 1 dead agents",
    "",
])


def test_rpc_replies_and_their_percentiles_per_process():
    replies = nl.rpc_replies(SERVER_LOG)
    assert [(r["pid"], r["seconds"]) for r in replies] == [(812, 0.016), (815, 2.5), (815, 0.75), (812, 9.5e-05)]
    assert replies[0]["time"] == "2025-06-01 12:00:01.250"
    summary = nl.rpc_summary(replies, titles={815: "neutron-server: rpc worker (RpcReportsWorker)"})
    assert (summary["calls"], summary["p50_s"], summary["p95_s"], summary["max_s"]) == (4, 0.016, 2.5, 2.5)
    assert summary["per_process"][812]["calls"] == 2 and summary["per_process"][812]["title"] is None
    assert summary["per_process"][815] == {"calls": 2, "p50_s": 0.75, "p95_s": 2.5, "max_s": 2.5,
                                           "title": "neutron-server: rpc worker (RpcReportsWorker)"}


def test_no_reply_logged():
    assert nl.rpc_summary(nl.rpc_replies("")) == {"calls": 0, "p50_s": None, "p95_s": None, "max_s": None,
                                                  "per_process": {}}
    assert nl.percentile([3, 1, 2], 50) == 2 and nl.percentile([5], 95) == 5


def status(connected, running, questions):
    return nl.parse_global_status(
        "Aborted_connects\t0\nConnections\t812\nMax_used_connections\t41\nQuestions\t%d\n"
        "Threads_connected\t%d\nThreads_running\t%d\n" % (questions, connected, running))


def test_global_status_and_the_load_of_a_window():
    assert status(30, 2, 1000) == {"Aborted_connects": 0, "Connections": 812, "Max_used_connections": 41,
                                   "Questions": 1000, "Threads_connected": 30, "Threads_running": 2}
    load = nl.db_load([(100.0, status(30, 1, 1000)), (101.0, status(34, 5, 1400)),
                       (102.0, status(52, 9, 2600)), (104.0, status(40, 2, 3000))])
    assert load == {"samples": 4, "threads_connected_max": 52, "threads_running_max": 9,
                    "queries_per_s_max": 1200.0, "queries_per_s_mean": 500.0}
    assert nl.db_load([])["threads_connected_max"] is None
    assert "'Threads_connected'" in nl.STATUS_QUERY and "'Questions'" in nl.STATUS_QUERY


def test_heartbeats_and_agents_marked_down():
    first = nl.parse_heartbeats("cmp1\t3.250000\ncmp2\t14.000000\ncmp3\tNULL\n")
    assert first == {"cmp1": 3.25, "cmp2": 14.0, "cmp3": None}
    later = nl.parse_heartbeats("cmp1\t18.5\ncmp2\t80.1\ncmp3\t2.0\n")
    assert nl.heartbeat_load([first, later]) == {"heartbeat_age_max_s": 80.1, "oldest_agent": "cmp2",
                                                 "agents_down": ["cmp2"]}
    assert nl.heartbeat_load([]) == {"heartbeat_age_max_s": None, "oldest_agent": None, "agents_down": []}


def test_vm_loss_beyond_the_idle_rate():
    probe = {"seconds": 100, "icmp": {"sent": 25000, "lost": 7}}
    assert nl.vm_lost_excess(probe, 0.0) == 7
    assert nl.vm_lost_excess(probe, 0.01) == 4          # 3 x 0.01/s x 100 s = 3 allowed
    assert nl.vm_lost_excess(probe, 0.1) == 0


def row(throttle, p95, age, threads, lost=0):
    return {"throttle": throttle, "rpc_p95_s": p95, "heartbeat_age_max_s": age,
            "threads_connected_max": threads, "vm_lost_excess": lost}


def test_the_throttle_is_the_largest_that_keeps_every_bound():
    rows = [row(32, 6.1, 81.0, 120), row(16, 2.2, 40.0, 90), row(8, 0.9, 22.0, 70),
            row(4, 0.4, 16.0, 60), row(1, 0.1, 15.5, 45)]
    assert nl.broken_bounds(rows[0]) == ["rpc_p95_s 6.1 > 1.0", "heartbeat_age_max_s 81.0 > 75.0",
                                         "threads_connected_max 120 > 100"]
    assert nl.choose_throttle(rows) == 8
    # a smaller throttle that breaks a bound stops the search: 8 is not proven safe past it
    assert nl.choose_throttle([row(1, 0.1, 15, 40), row(4, 0.2, 16, 50, lost=3), row(8, 0.3, 17, 55)]) == 1
    assert nl.choose_throttle([row(1, 3.0, 15, 40)]) is None
    assert nl.choose_throttle(rows, dict(nl.BOUNDS, rpc_p95_s=3.0, heartbeat_age_max_s=45)) == 16
    # a figure not measured breaks nothing
    assert nl.broken_bounds({"throttle": 4, "rpc_p95_s": None}) == []
