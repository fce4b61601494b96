"""Edge agent: cameras -> vision pipeline -> AggregateWindows -> local Redis buffer."""
