import pytest

from deepq_widgets.app import build_app


@pytest.fixture
def app(demo_copy):
    """The whole app on a private demo workspace; no worker is started by Start."""
    application = build_app(demo_copy, poll_interval=60, start_worker=False)
    application.catalog.ready.wait(30)
    yield application
    application.close()


def card_button(view, key):
    return view.cards[key].button
