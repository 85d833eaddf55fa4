// app: configuration, the command line, and `serve` — which wires each
// shard's connections to protocol sessions, executes their actions, and
// drives the spool's group commit. The top of the dependency graph.
#pragma once

#include "posthorn/app/config.hh"
