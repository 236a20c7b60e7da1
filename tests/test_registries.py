"""Every registered student and loss must be exercised by a test that names its class."""

from pathlib import Path

from kdedge.losses import LOSSES
from kdedge.students import STUDENTS

TEST_SOURCES = "\n".join(p.read_text() for p in Path(__file__).parent.glob("test_*.py") if p.name != Path(__file__).name)


def test_every_student_has_a_test():
    for name, (config_class, model_class) in STUDENTS.items():
        assert model_class.__name__ in TEST_SOURCES, f"student {name!r} has no test"


def test_every_loss_has_a_test():
    for name, loss_class in LOSSES.items():
        assert loss_class.__name__ in TEST_SOURCES, f"loss {name!r} has no test"
