"""Pure logic of the switch service: FreeSWITCH channel events -> Switchboard call events."""
