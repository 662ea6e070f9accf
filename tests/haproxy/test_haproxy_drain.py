"""module_utils/haproxy_drain.py: what stackhop.upgrade.haproxy_server decides from HAProxy's
answers (HAProxy 2.6's own text, captured from Debian 12's haproxy). The module on a real
haproxy: tests/haproxy/test_haproxy_server.py."""

from __future__ import annotations

import pytest

from ansible_collections.stackhop.upgrade.plugins.module_utils import haproxy_drain as hd

HEADER = ("# be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state srv_uweight "
          "srv_iweight srv_time_since_last_change srv_check_status srv_check_result "
          "srv_check_health srv_check_state srv_agent_state bk_f_forced_id srv_f_forced_id "
          "srv_fqdn srv_port srvrecord srv_use_ssl srv_check_port srv_check_addr srv_agent_addr "
          "srv_agent_port")
# api_a/ctl1 forced into maint, api_a/ctl2 drained, api_a/ctl3 "disabled" in the config and
# made ready since (CMAINT alone), api_b/ctl1 tracks api_a/ctl1 (inherited maint)
SERVERS_STATE = "\n".join([
    "1", HEADER,
    "3 api_a 1 ctl1 127.0.0.1 0 1 1 1 3 8 2 0 14 0 0 0 - 18811 - 0 0 - - 0",
    "3 api_a 2 ctl2 127.0.0.1 2 8 1 1 1 1 0 2 0 0 0 0 - 18812 - 0 0 - - 0",
    "3 api_a 3 ctl3 127.0.0.1 2 4 1 1 1 1 0 0 8 0 0 0 - 18813 - 0 0 - - 0",
    "4 api_b 1 ctl1 127.0.0.1 0 2 1 1 3 1 0 2 0 0 0 0 - 18821 - 0 0 - - 0",
    "4 api_b 2 ctl2 127.0.0.1 2 0 1 1 3 1 0 2 0 0 0 0 - 18822 - 0 0 - - 0",
    "", ""])

STAT_HEADER = ("# pxname,svname,qcur,qmax,scur,smax,slim,stot,bin,bout,dreq,dresp,ereq,econ,eresp,"
               "wretr,wredis,status,weight,act,bck,chkfail,chkdown,lastchg,downtime,qlimit,pid,iid,"
               "sid,throttle,lbtot,tracked,type,rate,rate_lim,rate_max")
STAT = "\n".join([
    STAT_HEADER,
    "api_a,ctl1,0,0,0,0,,0,0,0,,0,,0,0,0,0,MAINT,1,1,0,1,1,1,1,,1,3,1,,0,,2,0,,0",
    "api_a,ctl2,1,1,2,3,,9,0,0,,0,,0,0,0,0,DRAIN,1,1,0,,,1,,,1,3,2,,0,,2,0,,0",
    "api_a,ctl3,0,0,0,0,,0,0,0,,0,,0,0,0,0,no check,1,1,0,,,1,,,1,3,3,,0,,2,0,,0",
    "api_b,ctl1,0,0,0,0,,0,0,0,,0,,0,0,0,0,MAINT (via api_a/ctl1),1,1,0,,,1,,,1,4,1,,0,api_a/ctl1,2,0,,0",
    "api_b,ctl2,0,0,1,1,,4,0,0,,0,,0,0,0,0,UP,1,1,0,,,1,,,1,4,2,,0,,2,0,,0",
    "api_b,BACKEND,0,0,1,1,,4,0,0,,0,,0,0,0,0,UP,1,1,0,,,1,,,1,4,0,,0,,1,0,,0",
    "", ""])


def test_servers_state_is_read_by_its_header():
    servers = hd.parse_servers_state(SERVERS_STATE)
    assert [(s["backend"], s["server"], s["admin_flags"], s["op_state"]) for s in servers] == [
        ("api_a", "ctl1", 1, 0), ("api_a", "ctl2", 8, 2), ("api_a", "ctl3", 4, 2),
        ("api_b", "ctl1", 2, 0), ("api_b", "ctl2", 0, 2)]
    assert hd.parse_servers_state("1\n" + HEADER + "\n") == []    # no backend has a server


@pytest.mark.parametrize("answer", [
    "", "Unknown command: 'show servers state'\n", "Permission denied",
    "1\n3 api_a 1 ctl1 127.0.0.1 0 1 1 1\n",                       # no header
    "1\n# be_id be_name srv_id\n3 api_a 1\n",                       # no admin state column
])
def test_what_is_not_a_servers_state_is_refused(answer):
    with pytest.raises(hd.AnswerError):
        hd.parse_servers_state(answer)


def test_stat_keeps_the_servers_rows_sessions_queue_status_and_tracked():
    stat = hd.parse_stat(STAT)
    assert sorted(stat) == [("api_a", "ctl1"), ("api_a", "ctl2"), ("api_a", "ctl3"),
                            ("api_b", "ctl1"), ("api_b", "ctl2")]
    assert stat[("api_a", "ctl2")] == {"sessions": 2, "queued": 1, "status": "DRAIN", "tracked": "",
                                       "check": ""}
    checked = hd.parse_stat("# pxname,svname,qcur,scur,status,type,check_status\n"
                            "api,ctl4,0,0,DOWN,2,L4CON\n")
    assert checked[("api", "ctl4")]["check"] == "L4CON"
    assert stat[("api_b", "ctl1")]["status"] == "MAINT (via api_a/ctl1)"
    assert stat[("api_b", "ctl1")]["tracked"] == "api_a/ctl1"
    with pytest.raises(hd.AnswerError):
        hd.parse_stat("No such proxy.\n")


@pytest.mark.parametrize("flags,state", [
    (0, "ready"), (hd.FMAINT, "maint"), (hd.FMAINT | hd.CMAINT, "maint"),  # "disabled" in the config
    (hd.CMAINT, "ready"),                     # disabled in the config, made ready since: it serves
    (hd.FDRAIN, "drain"), (hd.IDRAIN, "drain"), (hd.IMAINT, "maint"), (hd.RMAINT, "maint"),
    (hd.FDRAIN | hd.IMAINT, "maint"),         # a maintenance wins over a drain
])
def test_admin_state_of_the_bits(flags, state):
    assert hd.admin_state(flags) == state


KNOWN = hd.parse_servers_state(SERVERS_STATE)


def test_a_server_without_backend_is_that_server_in_every_backend_in_haproxys_order():
    targets, missing = hd.resolve([{"server": "ctl1"}], KNOWN)
    assert targets == [("api_a", "ctl1"), ("api_b", "ctl1")] and missing == []
    targets, missing = hd.resolve([{"server": "ctl2", "backend": "api_b"}, {"server": "ctl2"},
                                   {"server": "ctl3", "backend": None}], KNOWN)
    assert targets == [("api_a", "ctl2"), ("api_a", "ctl3"), ("api_b", "ctl2")] and missing == []


def test_every_unknown_name_is_reported_at_once():
    targets, missing = hd.resolve([{"server": "ctl1", "backend": "api_x"},
                                   {"server": "ctl9", "backend": "api_a"},
                                   {"server": "ctl7"}, {"server": "ctl2"}], KNOWN)
    assert missing == ["no backend api_x",
                       "no server ctl9 in backend api_a (its servers: ctl1, ctl2, ctl3)",
                       "no server named ctl7 in any backend"]
    assert targets == [("api_a", "ctl2"), ("api_b", "ctl2")]


@pytest.mark.parametrize("flags,wanted,needed", [
    (0, "drain", True), (hd.FDRAIN, "drain", False), (hd.FMAINT, "drain", True),
    (hd.FDRAIN, "ready", True), (hd.FMAINT, "ready", True), (hd.CMAINT, "ready", False),
    (0, "ready", False), (hd.FMAINT, "maint", False), (hd.FDRAIN, "maint", True),
    (hd.IDRAIN, "drain", False),              # it drains with the server it tracks
])
def test_a_command_only_where_the_state_differs(flags, wanted, needed):
    assert hd.needs_command(flags, wanted) is needed


def test_what_no_command_can_change_is_found_before_any_is_sent():
    flags = {(s["backend"], s["server"]): s["admin_flags"] for s in KNOWN}
    stat = hd.parse_stat(STAT)
    # api_b/ctl1 inherits api_a/ctl1's maint: alone it stays in maint
    assert hd.inherited_blocks([("api_b", "ctl1")], flags, stat, "ready") == [
        ("api_b/ctl1 follows the state of api_a/ctl1, which it tracks", "list api_a/ctl1 in servers too")]
    assert hd.inherited_blocks([("api_b", "ctl1")], flags, stat, "drain") != []
    assert hd.inherited_blocks([("api_b", "ctl1")], flags, stat, "maint") == []
    # with the tracked server in the same run it follows it
    assert hd.inherited_blocks([("api_a", "ctl1"), ("api_b", "ctl1")], flags, stat, "ready") == []
    # an inherited drain keeps a server out of "ready" only
    flags[("api_b", "ctl1")] = hd.IDRAIN
    assert hd.inherited_blocks([("api_b", "ctl1")], flags, stat, "maint") == []
    assert hd.inherited_blocks([("api_b", "ctl1")], flags, stat, "ready") != []
    flags[("api_a", "ctl3")] = hd.RMAINT
    assert hd.inherited_blocks([("api_a", "ctl3")], flags, stat, "ready") == [
        ("api_a/ctl3 is in maintenance because its address did not resolve", "make its name resolve")]


def test_the_command_and_no_name_that_could_end_it():
    assert hd.set_command("api_a", "ctl1", "drain") == "set server api_a/ctl1 state drain"
    for backend, server, state in [("api_a", "ctl1;shutdown", "drain"), ("api a", "ctl1", "ready"),
                                   ("api_a", "", "ready"), ("api_a", "ctl1", "down")]:
        with pytest.raises(ValueError):
            hd.set_command(backend, server, state)


def test_the_drain_is_over_when_no_target_holds_a_session_or_a_queued_request():
    stat = hd.parse_stat(STAT)
    assert hd.holding([("api_a", "ctl1"), ("api_b", "ctl1")], stat) == []
    left = hd.holding([("api_a", "ctl2"), ("api_b", "ctl2"), ("api_c", "gone")], stat)
    assert left == [("api_a", "ctl2", 2, 1), ("api_b", "ctl2", 1, 0)]
    assert hd.holding_phrase(left) == "api_a/ctl2 (2 sessions, 1 queued), api_b/ctl2 (1 session)"


@pytest.mark.parametrize("status, up", [
    ("UP", True), ("DRAIN", True), ("no check", True), ("UP 1/3", False), ("DRAIN 1/3", False),
    ("DRAIN (via api_a/ctl1)", True), ("MAINT (via api_a/ctl1)", False),
    ("DOWN", False), ("DOWN 1/2", False), ("MAINT", False), ("NOLB", False), ("", False)])
def test_a_server_is_up_once_its_health_check_says_so(status, up):
    assert hd.checked_up(status) is up


def test_the_servers_not_up_yet_are_named_with_their_status_and_check():
    stat = hd.parse_stat(STAT)
    stat[("api_b", "ctl2")]["status"] = "DOWN"
    stat[("api_b", "ctl2")]["check"] = "L4CON"
    targets = [("api_a", "ctl3"), ("api_b", "ctl2"), ("api_a", "ctl1"), ("api_b", "gone")]
    left = hd.not_up(targets, stat)
    assert left == [("api_b", "ctl2", "DOWN", "L4CON"), ("api_a", "ctl1", "MAINT", ""),
                    ("api_b", "gone", "absent", "")]
    assert hd.not_up_phrase(left) == "api_b/ctl2 (DOWN, L4CON), api_a/ctl1 (MAINT), api_b/gone (absent)"
