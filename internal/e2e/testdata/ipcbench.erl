%% The Erlang/OTP distribution baseline of Nefele's IPC benchmarks
%% (internal/e2e/ipc_bench_test.go). serve/0 runs on one node; pingpong/4
%% and oneway/4 run on another node, time remote messages to it, print
%% their result as one line "result {JSON}" and halt the node.
-module(ipcbench).
-export([serve/0, pingpong/4, oneway/4]).

%% serve registers the calling process as ipcbench and, for ever, answers
%% each {ping, From, Bin} with {pong, Bin}, and each {count, From, N} by
%% receiving N {msg, _} and then sending counted.
serve() ->
    register(ipcbench, self()),
    io:format("serving~n"),
    serve_loop().

serve_loop() ->
    receive
        {ping, From, Bin} -> From ! {pong, Bin};
        {count, From, N} -> count(N), From ! counted
    end,
    serve_loop().

count(0) -> ok;
count(N) -> receive {msg, _} -> count(N - 1) end.

%% pingpong times N round trips of a Size-byte binary to the server on
%% Node, after Warmup untimed ones: {"rtts_ns":[...]}.
pingpong(Node, Size, Warmup, N) ->
    Server = server(Node),
    Bin = binary:copy(<<0>>, Size),
    _ = [rtt(Server, Bin) || _ <- lists:seq(1, Warmup)],
    Rtts = [rtt(Server, Bin) || _ <- lists:seq(1, N)],
    io:format("result {\"rtts_ns\":~w}~n", [Rtts]),
    erlang:halt(0).

rtt(Server, Bin) ->
    T0 = erlang:monotonic_time(nanosecond),
    Server ! {ping, self(), Bin},
    receive {pong, _} -> ok end,
    erlang:monotonic_time(nanosecond) - T0.

%% oneway sends Warmup and then, timed, N messages of a Size-byte binary
%% to the server on Node, each batch until the server says it has them
%% all: {"messages":N,"bytes":N*Size,"elapsed_ns":T}.
oneway(Node, Size, Warmup, N) ->
    Server = server(Node),
    Bin = binary:copy(<<0>>, Size),
    burst(Server, Bin, Warmup),
    T0 = erlang:monotonic_time(nanosecond),
    burst(Server, Bin, N),
    Elapsed = erlang:monotonic_time(nanosecond) - T0,
    io:format("result {\"messages\":~w,\"bytes\":~w,\"elapsed_ns\":~w}~n", [N, N * Size, Elapsed]),
    erlang:halt(0).

burst(Server, Bin, N) ->
    Server ! {count, self(), N},
    send(Server, Bin, N),
    receive counted -> ok end.

send(_, _, 0) -> ok;
send(Server, Bin, N) -> Server ! {msg, Bin}, send(Server, Bin, N - 1).

%% server connects to Node and returns the pid registered there as
%% ipcbench, trying for 10 s.
server(Node) -> server(Node, 500).

server(_, 0) ->
    io:format(standard_error, "no ipcbench server~n", []),
    erlang:halt(3);
server(Node, Tries) ->
    case net_kernel:connect_node(Node) andalso rpc:call(Node, erlang, whereis, [ipcbench]) of
        Pid when is_pid(Pid) -> Pid;
        _ -> timer:sleep(20), server(Node, Tries - 1)
    end.
