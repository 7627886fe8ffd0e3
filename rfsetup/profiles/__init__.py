"""What is particular to one kind of project: RaptorFlow's profile, and a generic one."""
