# The stages of the pipeline, as gdb breakpoints: one SET stops here in this
# order. Sourced by scripts/debug (interactive) and by tests/debugger.rs (batch,
# which checks the order and snapshots the backtraces). Keep the two in step
# with the chapter "Stepping through SET".
set pagination off
set confirm off
set breakpoint pending on
set startup-with-shell off
set print frame-arguments presence
set print address off
break ferredis::networking::read_query_from_client
break ferredis::networking::process_input_buffer
break ferredis::server::process_command
break ferredis::commands::CommandTable::lookup_command
break ferredis::server::call
break ferredis::t_string::set_generic_command
break ferredis::networking::ClientIo::add_reply_to_buffer_or_list
break ferredis::networking::write_to_client
