export function mount(section) { section.textContent = 'to do'; }
