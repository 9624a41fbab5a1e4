"""Task queue and workflow-id builders shared by the worker, the clients and the workflows."""

TASK_QUEUE = "awardcycle"


def cycle_id(programme_id: str, year: int) -> str:
    return f"{programme_id}-{year}"


def application_id(cycle_id: str, sequence: int) -> str:
    return f"{cycle_id}.app-{sequence:04d}"


def cycle_of(application_id: str) -> str:
    """The cycle an application belongs to: `{cycle}.app-0003` gives `{cycle}`."""
    cycle, separator, sequence = application_id.rpartition(".app-")
    if not (cycle and separator and sequence.isdigit()):
        raise ValueError(f"not an application id: {application_id!r}")
    return cycle


def consultation_id(cycle_id: str, department_id: str) -> str:
    return f"{cycle_id}.consultation-{department_id}"


def notice_id(cycle_id: str) -> str:
    return f"{cycle_id}.notice"


def archive_id(cycle_id: str) -> str:
    return f"{cycle_id}.archive"


def title_id(application_id: str) -> str:
    """The title an application's winner holds: `{cycle}.app-0003` becomes `{cycle}.title-0003`."""
    return f"{cycle_of(application_id)}.title-{application_id.rpartition('.app-')[2]}"
