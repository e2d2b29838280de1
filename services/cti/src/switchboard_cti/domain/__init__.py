"""Pure logic of the cti service: the agent state machine, agent calls and their controls,
tenant policy, the desktop protocol, the screen pop and the supervisor's view. No I/O here."""
