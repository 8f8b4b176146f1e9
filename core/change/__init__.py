"""Change between two dates: both segmented on the first date's grid, compared over their overlap, in map units."""
