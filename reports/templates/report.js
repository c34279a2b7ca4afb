// motionbench report page: keeps the videos of a row on the clock of its driving video (data-lead)
(() => {
  const STEP = 0.08;  // allowed drift in seconds (two frames at 25 fps)
  const play = (video) => { const promise = video.play(); if (promise) promise.catch(() => {}); };
  const groups = new Map();
  for (const video of document.querySelectorAll("video[data-sync]")) {
    if (!groups.has(video.dataset.sync)) groups.set(video.dataset.sync, []);
    groups.get(video.dataset.sync).push(video);
  }
  const leads = [];
  for (const videos of groups.values()) {
    const lead = videos.find((v) => v.hasAttribute("data-lead")) || videos[0];
    const rest = videos.filter((v) => v !== lead);
    leads.push(lead);
    const align = () => {
      for (const video of rest) {
        if (video.readyState > 0 && Math.abs(video.currentTime - lead.currentTime) > STEP) {
          video.currentTime = lead.currentTime;
        }
        if (lead.paused && !video.paused) video.pause();
        if (!lead.paused && video.paused) play(video);
      }
    };
    for (const name of ["play", "pause", "seeked", "timeupdate"]) lead.addEventListener(name, align);
    lead.addEventListener("ratechange", () => { for (const v of rest) v.playbackRate = lead.playbackRate; });
    for (const video of rest) video.addEventListener("loadeddata", align);
    const bar = document.querySelector(`.scrub[data-for="${CSS.escape(lead.dataset.sync)}"]`);
    if (bar) {  // the row's own play/pause button and position slider
      const button = bar.querySelector("button"), range = bar.querySelector("input");
      const show = () => {
        button.textContent = lead.paused ? "\u25B6" : "\u275A\u275A";
        if (lead.duration) range.value = lead.currentTime / lead.duration;
      };
      button.addEventListener("click", () => (lead.paused ? play(lead) : lead.pause()));
      range.addEventListener("input", () => {
        lead.pause();
        if (lead.duration) lead.currentTime = Number(range.value) * lead.duration;
      });
      for (const name of ["play", "pause", "timeupdate", "seeked"]) lead.addEventListener(name, show);
    }
  }
  window.motionbench = { groups, leads };
  const byId = (id) => document.getElementById(id);
  byId("play-all").addEventListener("click", () => leads.forEach(play));
  byId("pause-all").addEventListener("click", () => leads.forEach((v) => v.pause()));
  byId("restart-all").addEventListener("click", () => leads.forEach((v) => { v.currentTime = 0; play(v); }));
  byId("speed").addEventListener("change", (event) => {
    leads.forEach((v) => { v.playbackRate = Number(event.target.value); });
  });
})();
