"""The leaderboard: runs grouped by model, scaffold variant or template, mean score with a CI, cost and monitor
flags (so a gamed score is visible), as a rich table or a static HTML page."""
