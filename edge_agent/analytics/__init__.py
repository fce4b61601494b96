"""Line crossings, unique visitors, dwell, zones, groups and the floor heatmap."""
