package main

// manual is the --help text.
const manual = `NAME
    mypollctl - talk to mypolld, the mypoll event daemon

SYNOPSIS
    mypollctl [--socket PATH] [--json] [--timeout DURATION] COMMAND [ARGS]
    mypollctl --help

DESCRIPTION
    mypollctl sends one request to mypolld over its AF_UNIX socket and prints
    the reply, or (listen) streams the events the daemon broadcasts. Global
    flags may come before or after COMMAND, except with echo, whose
    arguments are all text.

COMMANDS
    echo [TEXT...]
        Send TEXT (the arguments joined by single spaces) and print what the
        daemon echoes back. A connectivity check.

    trigger [PAYLOAD [COUNT]]
        Make the device emit COUNT (default 1) trigger events carrying
        PAYLOAD (default 0; decimal or 0x hex). Prints the seq range of the
        events. COUNT is limited by the device's max_burst.

    start-timer ID PERIOD_MS [COUNT]
        Start timer ID (0..7) ticking every PERIOD_MS milliseconds
        (1..3600000) for COUNT ticks (default 0: until stopped). A running
        timer gives EBUSY; stop it first.

    stop-timer ID
        Stop timer ID. An idle timer gives ENOENT.

    timers
        List the running timers: id, period, ticks so far, count.

    stats
        Print the daemon's counters, one key=value per line (clients,
        max_clients, events, lost_device, lost_queue, uptime_ms, next_seq,
        instance_id, ...).

    subscribe SET [--from SEQ]
        Check that the daemon accepts subscription SET and print its reply,
        which names the set in canonical form. The subscription ends with
        this command's connection; use listen to receive events. SET is
        sent as given: see SUBSCRIPTION SETS. Clients must subscribe: a new
        connection gets no events until it does.

    listen [--filter ITEMS]... [--from SEQ] [--resume]
        Subscribe to ITEMS (default all; see SUBSCRIPTION SETS) and print
        every event until SIGINT or SIGTERM. --filter may be repeated: listen
        takes the union (--filter timer:3 --filter trigger:42 is
        --filter timer:3,trigger:42). A bad item is a usage error, found
        before connecting. --set SET is the older name of --filter and
        still works. With --from, first replay the retained events with seq >=
        SEQ (after a reconnect, pass the last seq you saw plus one): the
        daemon answers, replays, then sends live events, strictly increasing,
        never a seq twice. A timer_stopped event names why the timer
        stopped in place of aux: reason=stop (stop-timer), reason=count
        (its COUNT was reached) or reason=closed (its owner closed the
        device). Events that could not be delivered are reported as a gap:
            LOST 120..130: 11 events not delivered (queue: this client was too slow)
        Reasons: queue (this client read too slowly), device (the daemon fell
        behind the device), restart (lost across a daemon restart or module
        reload).
        With --resume, listen survives daemon restarts: when the connection
        ends it reconnects (backing off from 50ms to 5s, with jitter), resumes
        after the last seq it printed, and prints
            RECONNECT instance 2d085b32e2656ff1 next_seq 6906: resumed from seq 6801 after 3 attempts (...)
        then any gap as LOST. If the device instance changed (module
        reloaded), the line says NEW device instance: seqs restarted at 1.
        In --json output: {"kind":"reconnect","instance_id":...,"next_seq":...,
        "from":...,"attempts":...,"cause":...,"new_instance":...}.

    open-device [--oldest] [--count N]
        Ask the daemon for a read-only descriptor of its event device
        (open_device; needs the right to control, see mypolld
        --control-group) and print the records read from it directly, with
        this process's own cursor (live, or the oldest retained record with
        --oldest), until N records or SIGINT/SIGTERM. Records the ring
        overwrote before they were read show as
            OVERFLOW 10..19: 10 records overwritten before this reader read them
        Only works on the daemon's own host: a descriptor cannot cross a
        proxied connection.

    help
        Print the commands the daemon accepts (protocol verbs).

    version
        Print mypollctl's version and protocol version (no connection).

SUBSCRIPTION SETS
    A set is all, none, or a comma list of at most 16 items:
        timer               every timer's timer and timer_stopped events
        trigger             every trigger event
        timer:ID            the timer and timer_stopped events of timer ID
                            (0..7) only
        trigger:PAYLOAD     the trigger events whose payload is PAYLOAD
                            (decimal or 0x hex) only
    Duplicates and items their class already covers are dropped; the
    daemon names the set in canonical form: classes first, then timer ids
    ascending, then payloads ascending in decimal (trigger:0x2a,timer:5 is
    timer:5,trigger:42; timer,trigger is all). With a partial set, a LOST
    line counts only the matching events for reason queue; for device and
    restart the daemon cannot know what the lost events were, so it counts
    every seq in the range.

GLOBAL FLAGS
    --socket PATH
        The daemon's socket (default $MYPOLL_SOCKET, else
        /run/mypoll/mypoll.sock).
    --json
        Print one JSON object per line for every output, errors included
        (on stderr, as {"error": ..., "errno": ..., "verb": ..., "exit": ...}).
    --timeout DURATION
        Bound the connect and each request (default 5s; 0 waits forever).
        listen applies it only to connecting and subscribing (with --resume,
        to each reconnect attempt).
    -h, --help
        Print this manual.

EXIT STATUS
    0   success (listen: stopped by SIGINT or SIGTERM)
    1   the daemon replied ERR, or the request failed after connecting
        (timeout, connection lost, protocol error)
    2   usage error (unknown command, bad flag or argument)
    3   cannot connect (no socket, refused, permission denied, too many
        clients)

ENVIRONMENT
    MYPOLL_SOCKET   the socket path when --socket is not given

EXAMPLES
    mypollctl echo hello
    mypollctl trigger 0x2a 3
    mypollctl start-timer 0 100 50 && mypollctl timers
    mypollctl --json stats | jq .clients
    mypollctl listen --filter trigger
    mypollctl listen --filter timer:3          # only timer 3's ticks and its stop
    mypollctl listen --filter timer:0,trigger:0x2a --json
    mypollctl subscribe trigger:42,trigger:0x2a  # prints OK subscribe trigger:42
    mypollctl listen --from 1234 --json > events.jsonl
    mypollctl listen --resume --from 1234    # follow across daemon restarts

SEE ALSO
    mypolld(8); PROTOCOL.md section A for the wire protocol.
`
