import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['node_modules/**', 'test-output/**', 'dashboard/web/vendor/**', '.data/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: {
      globals: {
        process: 'readonly',
        console: 'readonly',
        Buffer: 'readonly',
        setTimeout: 'readonly',
        clearTimeout: 'readonly',
        setInterval: 'readonly',
        clearInterval: 'readonly',
        URL: 'readonly',
        performance: 'readonly',
      },
    },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/no-explicit-any': 'warn',
    },
  },
  {
    // Layers do not reach across: what the dashboard shares with the edge lives in contract/ or shared/.
    files: ['dashboard/**/*.ts', 'dashboard/**/*.js'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: ['**/edge/src/**', '**/edge/src'],
              message:
                'the dashboard does not import edge internals: move what both need to contract/ (vocabulary) or shared/ (machinery)',
            },
          ],
        },
      ],
    },
  },
  {
    files: ['dashboard/web/**/*.js'],
    languageOptions: {
      globals: {
        window: 'readonly',
        document: 'readonly',
        fetch: 'readonly',
        WebSocket: 'readonly',
        localStorage: 'readonly',
        location: 'readonly',
        AudioContext: 'readonly',
        requestAnimationFrame: 'readonly',
        Image: 'readonly',
        performance: 'readonly',
        addEventListener: 'readonly',
        removeEventListener: 'readonly',
        dispatchEvent: 'readonly',
        CustomEvent: 'readonly',
        HTMLInputElement: 'readonly',
        HTMLSelectElement: 'readonly',
        navigator: 'readonly',
        URLSearchParams: 'readonly',
        FormData: 'readonly',
        confirm: 'readonly',
        history: 'readonly',
        HTMLElement: 'readonly',
        HTMLImageElement: 'readonly',
        HTMLButtonElement: 'readonly',
        HTMLTableElement: 'readonly',
        HTMLFormElement: 'readonly',
        HTMLAnchorElement: 'readonly',
        Element: 'readonly',
      },
    },
  },
);
